/**
 * TLS against the local broker's SSL listener (infra/kafka.sh: 127.0.0.1:9095,
 * FLOWYARD_KAFKA_SSL_PORT; a client certificate is requested, not required). Its CA and a
 * client certificate are the files infra/kafka.sh made in <state>/kafka/tls (ca.pem,
 * client.pem, client.key; <state> is FLOWYARD_STATE_DIR, default .local);
 * FLOWYARD_KAFKA_TLS_DIR points elsewhere for another setup. With that CA, flowyard's own
 * client creates a topic, produces and consumes, with and without the client certificate.
 * A CA that did not sign the broker's certificate, no CA file, a client certificate from
 * another CA, and TLS against the PLAINTEXT listener fail at connect, at once, with an
 * InvalidInputError naming the setting (kafkajs alone retries them for about a minute and
 * prints a stack trace); through the CLI that is exit 2 with that one line.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { InvalidInputError } from '../../../src/errors.js';
import { createKafka } from '../../../src/kafka/client.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { createLogger } from '../../../src/observability/logger.js';
import { eventually, testEnv, uniqueName } from '../../helpers/servers.js';
import { repo, requireBuild, spawnCli } from '../../helpers/cli.js';
import { issue, makeCa, type Ca, type Issued } from './tls-certs.js';

/** Far longer than a refused handshake takes (well under 1 s); a command still running then hangs. */
const HANG_MS = 30_000;

const SSL_PORT = process.env.FLOWYARD_KAFKA_SSL_PORT ?? '9095';
const SSL_BROKER = `127.0.0.1:${SSL_PORT}`;
/** The PLAINTEXT listener of the same broker. */
const PLAIN_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const TLS_DIR = process.env.FLOWYARD_KAFKA_TLS_DIR ?? join(process.env.FLOWYARD_STATE_DIR ?? join(repo, '.local'), 'kafka', 'tls');
const BROKER_CA = join(TLS_DIR, 'ca.pem');
// How the OpenSSL in this Node names a TLS alert: 3.2 renamed "sslv3 alert" to "ssl/tls alert".
const [opensslMajor = 0, opensslMinor = 0] = process.versions.openssl.split('.').map(Number);
const ALERT = opensslMajor > 3 || (opensslMajor === 3 && opensslMinor >= 2) ? 'ssl/tls alert' : 'sslv3 alert';
const BROKER_CLIENT: Issued = { cert: join(TLS_DIR, 'client.pem'), key: join(TLS_DIR, 'client.key') };

let dir: string;
let otherCa: Ca;
let otherClient: Issued;

beforeAll(async () => {
  // Fail, not skip: a broker started before the listener existed must be restarted (infra/kafka.sh down && up).
  const socket = new Socket();
  const open = await new Promise<boolean>((resolve) => {
    socket.setTimeout(3_000);
    socket.once('connect', () => resolve(true)).once('error', () => resolve(false)).once('timeout', () => resolve(false));
    socket.connect(Number(SSL_PORT), '127.0.0.1');
  });
  socket.destroy();
  if (!open || !existsSync(BROKER_CA)) {
    throw new Error(
      `no TLS listener on ${SSL_BROKER} or no CA at ${BROKER_CA}: the local broker predates it; restart it with \`bash infra/kafka.sh down && bash infra/kafka.sh up\`` +
        ' (or set FLOWYARD_KAFKA_SSL_PORT / FLOWYARD_KAFKA_TLS_DIR for another broker)',
    );
  }
  dir = mkdtempSync(join(tmpdir(), 'flowyard-kafka-tls-'));
  otherCa = makeCa(dir, 'other-ca');
  otherClient = issue(otherCa, 'other-client', 'client');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function tlsVars(caFile: string | undefined, client?: Issued, brokers = SSL_BROKER): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers,
    KAFKA_TLS: 'true',
    ...(caFile && { KAFKA_TLS_CA_FILE: caFile }),
    ...(client && { KAFKA_TLS_CERT_FILE: client.cert, KAFKA_TLS_KEY_FILE: client.key }),
  };
}

const silent = (): ReturnType<typeof createLogger> => createLogger('debug', { write: () => true } as unknown as Writable);

test.each([
  ['without a client certificate', undefined],
  ['with the client certificate infra/kafka.sh made', BROKER_CLIENT],
])('the broker CA, %s: create a topic, produce and consume a record', async (_case, client) => {
  const kafka = await createKafka(testEnv(tlsVars(BROKER_CA, client)).kafka, silent(), 'tls-test');
  const topic = uniqueName('tls');
  const admin = kafka.admin();
  const received: ConsumedRecord[] = [];
  const consumer = kafka.groupConsumer({ groupId: uniqueName('tls-group'), topics: [topic], commitMode: 'after-batch', handleBatch: async (records) => void received.push(...records) });
  try {
    await admin.createTopics([{ name: topic, partitions: 1, replicationFactor: -1, config: {} }]);
    const producer = await kafka.producer();
    try {
      await producer.send([{ topic, records: [{ key: 'k1', value: 'hello over TLS' }] }]);
    } finally {
      await producer.disconnect();
    }
    await consumer.start();
    expect(await eventually(() => received.length > 0, 60_000)).toBe(true);
    expect(received.map((r) => `${r.key?.toString()}=${r.value?.toString()}`)).toEqual(['k1=hello over TLS']);
  } finally {
    consumer.stopFetching();
    await consumer.disconnect();
    await admin.disconnect();
  }
});

const failures = [
  [
    'a CA that did not sign the broker certificate',
    () => tlsVars(otherCa.cert),
    () =>
      `environment: KAFKA_TLS_CA_FILE: the certificate of Kafka at ${SSL_BROKER} is not signed by this CA (self-signed certificate in certificate chain); ` +
      'set KAFKA_TLS_CA_FILE to the CA that signed it',
  ],
  [
    'no CA file (the system CAs)',
    () => tlsVars(undefined),
    () =>
      `environment: KAFKA_TLS_CA_FILE: the certificate of Kafka at ${SSL_BROKER} is not signed by a CA this system trusts (self-signed certificate in certificate chain); ` +
      'set KAFKA_TLS_CA_FILE to the CA that signed it',
  ],
  [
    'a client certificate from another CA',
    () => tlsVars(BROKER_CA, otherClient),
    () =>
      `environment: KAFKA_TLS_CERT_FILE: Kafka at ${SSL_BROKER} refused the client certificate (${ALERT} certificate unknown); ` +
      'use one signed by a CA the server trusts, with its key in KAFKA_TLS_KEY_FILE',
  ],
  [
    'TLS against the PLAINTEXT listener',
    () => tlsVars(BROKER_CA, undefined, PLAIN_BROKERS),
    () =>
      `environment: KAFKA_TLS: Kafka at ${PLAIN_BROKERS} does not speak TLS on this port (it answers without TLS and closed the TLS handshake); ` +
      'point KAFKA_BROKERS at its TLS listener, or unset KAFKA_TLS for a plain connection',
  ],
] as const;

test.each(failures)('%s: every client kind fails at connect, at once, naming the setting', async (_case, vars, expected) => {
  const kafka = await createKafka(testEnv(vars()).kafka, silent(), 'tls-test');
  const admin = kafka.admin();
  const consumer = kafka.groupConsumer({ groupId: uniqueName('tls-group'), topics: ['any'], commitMode: 'after-batch', handleBatch: async () => undefined });
  // Each client kind connects on its first use: an admin call, opening a producer, starting a group member.
  const connects: [() => Promise<unknown>, () => Promise<void>][] = [
    [() => admin.listTopics(), () => admin.disconnect()],
    [() => kafka.producer(), async () => undefined],
    [() => consumer.start(), () => consumer.disconnect()],
  ];
  for (const [connect, close] of connects) {
    const started = Date.now();
    const error = await connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    await close();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe(expected());
    expect(Date.now() - started).toBeLessThan(5_000); // kafkajs' own retries took about a minute
  }
});

describe('through the CLI, a TLS mistake exits 2 with the message, at once', () => {
  beforeAll(requireBuild);

  const topicsCreate = ['topics', 'create', 'topologies/orders-fanout.yaml'];
  test.each([
    ['topics create', 'a wrong CA', topicsCreate, failures[0]],
    ['run', 'a wrong CA', ['run', 'topologies/orders-fanout.yaml'], failures[0]],
    ['topics create', 'TLS against the PLAINTEXT listener', topicsCreate, failures[3]],
  ] as const)('%s with %s', async (_command, _case, args, [, vars, expected]) => {
    const result = await spawnCli(args, vars(), HANG_MS);
    expect(result.signal).toBeNull(); // ended by itself
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`${expected()}\n`); // one line, no stack trace
  });

  test('the broker CA through the CLI: topics create succeeds', async () => {
    const result = await spawnCli(['topics', 'create', 'topologies/orders-fanout.yaml'], tlsVars(BROKER_CA), HANG_MS);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^plan orders@[0-9a-f]{8}: \d+ created, \d+ already existed$/m);
  });
});
