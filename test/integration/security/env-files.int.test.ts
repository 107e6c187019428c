/**
 * The secure-connection settings that name files (Kubernetes Secret mounts): each file is
 * read at start; a missing, empty or non-PEM file is refused naming its variable, all
 * problems at once, and a good one arrives in the connection the clients take.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '../../../src/config/env.js';
import { InvalidInputError } from '../../../src/errors.js';

// Shaped like PEM; loadEnv checks the armour, the TLS handshake checks the rest.
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n';
let dir: string;
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

function problems(vars: Record<string, string>): readonly string[] {
  try {
    loadEnv(vars);
    return [];
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    return error.problems;
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowyard-env-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('CA, client certificate and key files are read into the Kafka and Redis connections', () => {
  const ca = file('ca.pem', CERT);
  const cert = file('client.pem', CERT);
  const key = file('client.key', KEY);
  const env = loadEnv({
    KAFKA_TLS: 'true',
    KAFKA_TLS_CA_FILE: ca,
    KAFKA_TLS_CERT_FILE: cert,
    KAFKA_TLS_KEY_FILE: key,
    REDIS_URL: 'rediss://cache:6380',
    REDIS_TLS_CA_FILE: ca,
  });
  expect(env.kafka.tls).toEqual({ ca: CERT, cert: CERT, key: KEY });
  expect(env.redis.tls).toEqual({ ca: CERT });
});

test('KAFKA_SASL_PASSWORD_FILE: read, trailing newline dropped', () => {
  const env = loadEnv({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD_FILE: file('kafka-password', 's3cret\n') });
  expect(env.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 's3cret' });
});

test('a missing CA file, a non-PEM certificate, a key without a certificate and an empty password file: each named, together', () => {
  const notPem = file('not-pem.crt', 'this is not a certificate\n');
  const empty = file('empty-password', '\n');
  const missing = join(dir, 'no-such-ca.pem');
  expect(
    problems({
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: missing,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD_FILE: empty,
      REDIS_TLS: 'true',
      REDIS_TLS_CERT_FILE: notPem,
      REDIS_TLS_KEY_FILE: file('redis.key', KEY),
    }),
  ).toEqual([
    `environment: KAFKA_SASL_PASSWORD_FILE=${JSON.stringify(empty)}: the file is empty`,
    `environment: KAFKA_TLS_CA_FILE=${JSON.stringify(missing)}: cannot read the file (ENOENT)`,
    `environment: REDIS_TLS_CERT_FILE=${JSON.stringify(notPem)}: not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)`,
    'environment: REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE: a client certificate needs both',
  ]);
});

test('a certificate where the key belongs is refused naming the key variable', () => {
  expect(problems({ KAFKA_TLS: 'true', KAFKA_TLS_CERT_FILE: file('c.pem', CERT), KAFKA_TLS_KEY_FILE: file('k.pem', CERT) })).toEqual([
    expect.stringMatching(/^environment: KAFKA_TLS_KEY_FILE=".*k\.pem": not a PEM private key \(expected a -----BEGIN \.\.\. PRIVATE KEY----- block\)$/),
    'environment: KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE: a client certificate needs both',
  ]);
});
