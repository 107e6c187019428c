/**
 * TLS settings the server refuses. loadEnv checks the files are PEM; whether the CA signed the
 * server's certificate, whether the server wants a client certificate, whether the port speaks
 * TLS at all shows only at the handshake. The clients retry network errors (kafkajs for a
 * minute, ioredis forever), so before their first connect they ask diagnoseTls, which names
 * the setting to fix (exit 2) or says nothing and lets them connect as before.
 */
import { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { InvalidInputError } from '../errors.js';
import type { TlsFiles } from './env.js';

/** The TLS options both clients pass to tls.connect, from the files loadEnv read. */
export function tlsOptions(tls: TlsFiles): ConnectionOptions {
  return { rejectUnauthorized: true, ...(tls.ca && { ca: tls.ca }), ...(tls.cert && { cert: tls.cert }), ...(tls.key && { key: tls.key }) };
}

export interface TlsPeer {
  readonly prefix: 'KAFKA' | 'REDIS';
  /** `host:port` as configured: one entry of KAFKA_BROKERS, or REDIS_URL's. */
  readonly address: string;
  readonly tls: TlsFiles;
  /** A request the server answers without TLS, and whether a reply is that answer: tells its plaintext port from a dead one. */
  readonly plaintext: { readonly request: Buffer; readonly answered: (reply: Buffer) => boolean };
}

const PEER = {
  KAFKA: { name: 'Kafka', address: 'KAFKA_BROKERS', port: 'TLS listener', off: 'unset KAFKA_TLS' },
  REDIS: { name: 'Redis', address: 'REDIS_URL', port: 'TLS port', off: 'use redis:// without REDIS_TLS' },
} as const;
/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED']);
/** TLS alerts of a server that wants a client certificate and got none, or does not trust the one it got. */
// OpenSSL 3.2 renamed the "sslv3 alert" reasons "ssl/tls alert" (Node 24 reports ERR_SSL_SSL/TLS_ALERT_...); both spellings are listed.
const CLIENT_CERT_REFUSED = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
]);
/** Bytes that are not a TLS record came back: the port speaks something else. */
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

/** The problem line for a TLS handshake error that is a configuration mistake, or undefined for any other error. */
export function tlsProblem(peer: Pick<TlsPeer, 'prefix' | 'address' | 'tls'>, error: unknown): string | undefined {
  // Not `instanceof Error`: Node's own errors may come from another realm (jest's VM modules).
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, reason, message } = error as { code?: unknown; reason?: unknown; message?: unknown };
  if (typeof code !== 'string') return undefined;
  const cause = String(reason ?? message).split('\n')[0]!.trim();
  const p = peer.prefix;
  const { name, address } = PEER[p];
  const at = `${name} at ${peer.address}`;
  if (UNTRUSTED.has(code)) {
    return `environment: ${p}_TLS_CA_FILE: the certificate of ${at} is not signed by ${peer.tls.ca ? 'this CA' : 'a CA this system trusts'} (${cause}); set ${p}_TLS_CA_FILE to the CA that signed it`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `environment: ${address}: the certificate of ${at} is not issued for this host name (${cause}); connect by a name the certificate lists`;
  }
  if (CLIENT_CERT_REFUSED.has(code)) {
    return peer.tls.cert === undefined
      ? `environment: ${p}_TLS_CERT_FILE, ${p}_TLS_KEY_FILE: ${at} requires a client certificate and none is set (${cause}); set both to a certificate it trusts and its key`
      : `environment: ${p}_TLS_CERT_FILE: ${at} refused the client certificate (${cause}); use one signed by a CA the server trusts, with its key in ${p}_TLS_KEY_FILE`;
  }
  if (NOT_TLS.has(code)) return notTls(peer, cause);
  return undefined;
}

function notTls(peer: Pick<TlsPeer, 'prefix' | 'address'>, cause: string): string {
  const { name, address, port, off } = PEER[peer.prefix];
  return `environment: ${peer.prefix}_TLS: ${name} at ${peer.address} does not speak TLS on this port (${cause}); point ${address} at its ${port}, or ${off} for a plain connection`;
}

/**
 * One TLS handshake to the peer with the client's settings. `ok`: the server accepted it; an
 * InvalidInputError naming the setting: a mistake no retry fixes (see tlsProblem; a port that
 * closes the handshake or leaves it unanswered counts only when it answers `plaintext` without
 * TLS); undefined: anything else (down, unreachable), left to the client's own retries.
 */
export async function diagnoseTls(peer: TlsPeer, timeoutMs = 5_000): Promise<'ok' | InvalidInputError | undefined> {
  const match = /^\[?(.*?)\]?:(\d+)$/.exec(peer.address);
  if (!match) return undefined;
  const [host, port] = [match[1]!, Number(match[2])];
  const error = await handshake(host, port, tlsOptions(peer.tls), timeoutMs);
  if (error === undefined) return 'ok';
  let problem = tlsProblem(peer, error);
  const { code } = error as { code?: unknown };
  if (problem === undefined && (code === 'ECONNRESET' || code === 'ETIMEDOUT') && (await answersPlaintext(host, port, peer.plaintext, timeoutMs))) {
    problem = notTls(peer, `it answers without TLS and ${code === 'ETIMEDOUT' ? 'left the TLS handshake unanswered' : 'closed the TLS handshake'}`);
  }
  return problem === undefined ? undefined : new InvalidInputError(problem, [problem]);
}

/**
 * Resolves undefined when the server accepts the handshake, else the error. Nothing is sent:
 * with TLS 1.3 the server checks the client certificate after the client's handshake is done
 * and answers with an alert, or with a session ticket once it accepted; writing before that
 * could turn the alert into a bare ECONNRESET.
 */
function handshake(host: string, port: number, options: ConnectionOptions, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ ...options, host, port });
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(error);
    };
    let connected = false; // TCP: a port that accepted and never answered the handshake may be a plaintext one
    socket.once('connect', () => (connected = true));
    let timer = setTimeout(() => done(Object.assign(new Error('no TLS handshake reply'), { code: connected ? 'ETIMEDOUT' : 'ECONNECTTIMEOUT' })), timeoutMs);
    socket.once('secureConnect', () => {
      if (socket.getProtocol() !== 'TLSv1.3') return done();
      clearTimeout(timer);
      timer = setTimeout(() => done(), Math.min(1_000, timeoutMs)); // no ticket and no alert: a server that sends no tickets
    });
    socket.once('session', () => done());
    socket.once('error', (error) => done(error));
    socket.once('close', () => done(Object.assign(new Error('connection closed during the TLS handshake'), { code: 'ECONNRESET' })));
  });
}

/** Whether host:port answers `plaintext.request` over plain TCP with what `plaintext.answered` recognises. */
function answersPlaintext(host: string, port: number, plaintext: TlsPeer['plaintext'], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = Buffer.alloc(0);
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write(plaintext.request));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      if (plaintext.answered(reply)) done(true);
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(plaintext.answered(reply)));
    socket.connect(port, host);
  });
}
