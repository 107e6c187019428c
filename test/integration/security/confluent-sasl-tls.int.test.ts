/**
 * SASL and TLS through the confluent backend (KAFKA_CLIENT=confluent), against the local
 * broker's SASL listener (127.0.0.1:9094, user `flowyard`) and SSL listener (127.0.0.1:9095, CA
 * in <state>/kafka/tls): the right settings produce and read a record; a wrong password, SASL on
 * a listener without it, and TLS against the PLAINTEXT listener fail with an InvalidInputError
 * naming the setting, not with librdkafka's "broker transport failure" after its retries.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../../../src/config/env.js';
import { InvalidInputError } from '../../../src/errors.js';
import { createKafka } from '../../../src/kafka/client.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { repo } from '../../helpers/cli.js';
import { testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

const SASL_BROKER = `127.0.0.1:${process.env.FLOWYARD_KAFKA_SASL_PORT ?? '9094'}`;
const SSL_BROKER = `127.0.0.1:${process.env.FLOWYARD_KAFKA_SSL_PORT ?? '9095'}`;
const PLAIN_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const TLS_DIR = process.env.FLOWYARD_KAFKA_TLS_DIR ?? join(process.env.FLOWYARD_STATE_DIR ?? join(repo, '.local'), 'kafka', 'tls');

function env(vars: Record<string, string>): Env {
  return testEnv({ KAFKA_CLIENT: 'confluent', ...vars });
}

const sasl = (password: string, brokers = SASL_BROKER) =>
  env({ KAFKA_BROKERS: brokers, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'flowyard', KAFKA_SASL_PASSWORD: password });
const tls = (brokers = SSL_BROKER) => env({ KAFKA_BROKERS: brokers, KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: join(TLS_DIR, 'ca.pem') });

async function roundTrip(settings: Env): Promise<string[]> {
  const port = await createKafka(settings.kafka, testLogger(), 'secure');
  const admin = port.admin();
  const topic = uniqueName('confluent-secure');
  try {
    await admin.createTopics([{ name: topic, partitions: 1, replicationFactor: -1, config: {} }]);
    const producer = await port.producer();
    await producer.send([{ topic, records: [{ key: 'k', value: 'secret-free' }] }]);
    await producer.disconnect();
    const records: ConsumedRecord[] = [];
    await port.readRange(topic, new Map([[0, { start: 0n, end: 1n }]]), async (batch) => void records.push(...batch), { purpose: 'secure-read' });
    return records.map((r) => r.value!.toString());
  } finally {
    await admin.disconnect();
  }
}

async function refusal(settings: Env): Promise<unknown> {
  const port = await createKafka(settings.kafka, testLogger(), 'secure');
  return port.producer().then(
    async (producer) => {
      await producer.disconnect();
      return undefined;
    },
    (error: unknown) => error,
  );
}

test('SASL SCRAM-SHA-512 with the right password: produce and read', async () => {
  expect(await roundTrip(sasl('flowyard-local-secret'))).toEqual(['secret-free']);
});

test('a wrong SASL password is an InvalidInputError naming KAFKA_SASL_PASSWORD', async () => {
  const error = await refusal(sasl('not-the-password-7f3a'));
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(/^environment: KAFKA_SASL_PASSWORD: Kafka at .* refused SASL scram-sha-512 authentication for KAFKA_SASL_USERNAME="flowyard"/);
});

test('SASL against the PLAINTEXT listener is an InvalidInputError naming KAFKA_SASL_MECHANISM', async () => {
  const error = await refusal(sasl('flowyard-local-secret', PLAIN_BROKERS));
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(/^environment: KAFKA_SASL_MECHANISM=scram-sha-512: .* does not take SASL on this listener/);
});

test('TLS with the broker\'s CA: produce and read', async () => {
  expect(readFileSync(join(TLS_DIR, 'ca.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
  expect(await roundTrip(tls())).toEqual(['secret-free']);
});

test('TLS against the PLAINTEXT listener is an InvalidInputError naming KAFKA_TLS', async () => {
  const error = await refusal(tls(PLAIN_BROKERS));
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(/^environment: KAFKA_TLS: Kafka at .* does not speak TLS on this port/);
});
