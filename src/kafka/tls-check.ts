import type { TlsFiles } from '../config/env.js';
import { diagnoseTls } from '../config/tls-check.js';
import { InvalidInputError } from '../errors.js';

/** ApiVersions v0 with correlation id 0x0f1a: what a broker's plaintext listener answers. */
const API_VERSIONS = Buffer.from([0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0x0f, 0x1a, 0, 0]);
const KAFKA_PLAINTEXT = { request: API_VERSIONS, answered: (reply: Buffer) => reply.length >= 8 && reply.readInt32BE(4) === 0x0f1a };

/**
 * A TLS handshake with every bootstrap broker at once, before a backend's first connect (every
 * client library retries a TLS mistake like an outage): rejects with the first configuration
 * mistake (in KAFKA_BROKERS order), true when one broker accepted, false when none answered
 * (down: the client's retries handle that, and the next connect checks again).
 */
export async function kafkaTlsCheck(brokers: readonly string[], tls: TlsFiles): Promise<boolean> {
  const verdicts = await Promise.all(brokers.map((address) => diagnoseTls({ prefix: 'KAFKA', address, tls, plaintext: KAFKA_PLAINTEXT })));
  const mistake = verdicts.find((verdict) => verdict instanceof InvalidInputError);
  if (mistake) throw mistake;
  return verdicts.includes('ok');
}
