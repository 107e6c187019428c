/**
 * Redis over TLS on throwaway redis-servers (Debian's is built with TLS): a CA, server and
 * client certificates made with openssl in a temp folder (tls-certs.ts); one server asks for
 * a client certificate (`--tls-auth-clients optional`), one requires it (`yes`); each also has
 * a plain port. The right CA (and client certificate where required) connects and commands
 * work. A CA that did not sign the server's certificate, no client certificate where one is
 * required, one from another CA, a host name the certificate does not list, and rediss://
 * against the plain port each reject `connect()` at once with an InvalidInputError naming
 * the setting, and leave no connection retrying. Through the CLI, `run` exits 2 with that
 * one line. The shared Redis is not touched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { loadEnv } from '../../../src/config/env.js';
import { InvalidInputError } from '../../../src/errors.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createRedis } from '../../../src/redis/connection.js';
import { PrivateRedis, freePort } from '../../helpers/servers.js';
import { requireBuild, spawnCli } from '../../helpers/cli.js';
import { issue, makeCa, type Ca, type Issued } from './tls-certs.js';

/** Far longer than a refused handshake takes (well under 1 s); a command still running then hangs. */
const HANG_MS = 30_000;

let dir: string;
let ca: Ca;
let otherCa: Ca;
let client: Issued;
let otherClient: Issued;
/** Asks for a client certificate; takes a connection without one. */
let optional: { server: PrivateRedis; tlsPort: number };
/** Requires a client certificate signed by `ca`. */
let required: { server: PrivateRedis; tlsPort: number };

async function tlsRedis(authClients: 'optional' | 'yes', server: Issued): Promise<{ server: PrivateRedis; tlsPort: number }> {
  const tlsPort = await freePort();
  const redis = new PrivateRedis(await freePort(), [
    '--tls-port', String(tlsPort),
    '--tls-cert-file', server.cert,
    '--tls-key-file', server.key,
    '--tls-ca-cert-file', ca.cert,
    '--tls-auth-clients', authClients,
  ]);
  await redis.start();
  return { server: redis, tlsPort };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flowyard-redis-tls-'));
  ca = makeCa(dir, 'ca');
  otherCa = makeCa(dir, 'other-ca');
  const serverCert = issue(ca, 'server', 'server');
  client = issue(ca, 'client', 'client');
  otherClient = issue(otherCa, 'other-client', 'client');
  optional = await tlsRedis('optional', serverCert);
  required = await tlsRedis('yes', serverCert);
});

afterAll(async () => {
  await optional?.server.stop();
  await required?.server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const silent = (): ReturnType<typeof createLogger> => createLogger('debug', { write: () => true } as unknown as Writable);

/** REDIS_* variables for rediss://127.0.0.1:<port> with the given CA and client certificate. */
function vars(port: number, caFile: string | undefined, cert?: Issued, host = '127.0.0.1'): Record<string, string> {
  return {
    REDIS_URL: `rediss://${host}:${port}`,
    ...(caFile && { REDIS_TLS_CA_FILE: caFile }),
    ...(cert && { REDIS_TLS_CERT_FILE: cert.cert, REDIS_TLS_KEY_FILE: cert.key }),
  };
}

test.each([
  ['the right CA, no client certificate, where one is only asked for', () => vars(optional.tlsPort, ca.cert)],
  ['the right CA and a client certificate, where one is required', () => vars(required.tlsPort, ca.cert, client)],
  ['redis:// with REDIS_TLS=true', () => ({ ...vars(required.tlsPort, ca.cert, client), REDIS_URL: `redis://127.0.0.1:${required.tlsPort}`, REDIS_TLS: 'true' })],
])('%s: connects and commands work', async (_case, settings) => {
  const redis = createRedis(loadEnv(settings()).redis, silent());
  await redis.connect();
  try {
    await redis.set('tls-test', 'ok');
    expect(await redis.get('tls-test')).toBe('ok');
  } finally {
    await redis.quit();
  }
});

const at = (port: number, host = '127.0.0.1'): string => `Redis at ${host}:${port}`.replace(/\./g, '\\.');

test.each([
  [
    'a CA that did not sign the server certificate',
    () => vars(optional.tlsPort, otherCa.cert),
    () => `^environment: REDIS_TLS_CA_FILE: the certificate of ${at(optional.tlsPort)} is not signed by this CA \\(self-signed certificate in certificate chain\\); set REDIS_TLS_CA_FILE to the CA that signed it$`,
  ],
  [
    'no CA file (the system CAs)',
    () => vars(optional.tlsPort, undefined),
    () => `^environment: REDIS_TLS_CA_FILE: the certificate of ${at(optional.tlsPort)} is not signed by a CA this system trusts \\(.+\\); set REDIS_TLS_CA_FILE to the CA that signed it$`,
  ],
  [
    'no client certificate where one is required',
    () => vars(required.tlsPort, ca.cert),
    () =>
      `^environment: REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE: ${at(required.tlsPort)} requires a client certificate and none is set \\(tlsv13 alert certificate required\\); ` +
      'set both to a certificate it trusts and its key$',
  ],
  [
    'a client certificate from another CA',
    () => vars(required.tlsPort, ca.cert, otherClient),
    () =>
      `^environment: REDIS_TLS_CERT_FILE: ${at(required.tlsPort)} refused the client certificate \\(tlsv1 alert unknown ca\\); ` +
      'use one signed by a CA the server trusts, with its key in REDIS_TLS_KEY_FILE$',
  ],
  [
    'a host name the certificate does not list',
    () => vars(optional.tlsPort, ca.cert, undefined, 'localhost'),
    () => `^environment: REDIS_URL: the certificate of ${at(optional.tlsPort, 'localhost')} is not issued for this host name \\(Host: localhost\\. is not .+\\); connect by a name the certificate lists$`,
  ],
  [
    'rediss:// against the plain port',
    () => vars(optional.server.port, ca.cert),
    () =>
      `^environment: REDIS_TLS: ${at(optional.server.port)} does not speak TLS on this port \\(.+\\); ` +
      'point REDIS_URL at its TLS port, or use redis:// without REDIS_TLS for a plain connection$',
  ],
])('%s: connect() rejects naming the setting; nothing keeps retrying', async (_case, settings, expected) => {
  const redis = createRedis(loadEnv(settings()).redis, silent());
  const started = Date.now();
  const error = await redis.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(new RegExp(expected()));
  // At once (a plain port that never answers the handshake takes the 5 s handshake timeout), and ioredis never started: no reconnect loop.
  expect(Date.now() - started).toBeLessThan(8_000);
  expect(redis.status).toBe('wait');
  redis.disconnect();
});

describe('through the CLI', () => {
  beforeAll(requireBuild);

  test.each([
    ['a wrong CA', () => vars(optional.tlsPort, otherCa.cert), /^environment: REDIS_TLS_CA_FILE: the certificate of Redis at 127\.0\.0\.1:\d+ is not signed by this CA \(/],
    ['no client certificate', () => vars(required.tlsPort, ca.cert), /^environment: REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE: Redis at 127\.0\.0\.1:\d+ requires a client certificate and none is set /],
  ])('run with %s exits 2 with one line naming the setting, and ends', async (_case, settings, expected) => {
    const result = await spawnCli(['run', 'topologies/orders-fanout.yaml'], settings(), HANG_MS);
    expect(result.signal).toBeNull(); // ended by itself
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(expected)]);
  });
});
