/**
 * The confluent backend and record-batch compression, against the real broker: librdkafka
 * writes every KAFKA_COMPRESSION codec so that the kafkajs backend (flowyard's codecs, Java's
 * snappy framing included) reads it, and reads what the kafkajs backend wrote with each.
 */
import { createKafka } from '../../../src/kafka/client.js';
import { COMPRESSIONS } from '../../../src/kafka/compression.js';
import type { KafkaPort } from '../../../src/kafka/port.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

const VALUES = Array.from({ length: 50 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(200)}"}`);

async function write(client: 'kafkajs' | 'confluent', compression: (typeof COMPRESSIONS)[number], topic: string): Promise<void> {
  const port = await createKafka({ ...testEnv().kafka, client, compression }, testLogger(), `codecs-${client}`);
  const producer = await port.producer();
  try {
    await producer.send([{ topic, records: VALUES.map((value, i) => ({ key: `k${i}`, value, partition: 0 })) }]);
  } finally {
    await producer.disconnect();
  }
}

async function readAll(port: KafkaPort, topic: string): Promise<string[]> {
  const admin = port.admin();
  try {
    const [watermark] = await admin.watermarks(topic);
    const records: ConsumedRecord[] = [];
    await port.readRange(topic, new Map([[0, { start: BigInt(watermark!.low), end: BigInt(watermark!.high) }]]), async (batch) => void records.push(...batch), { purpose: 'codecs-read' });
    return records.map((r) => r.value!.toString());
  } finally {
    await admin.disconnect();
  }
}

describe.each(COMPRESSIONS)('%s', (compression) => {
  let readers: Record<'kafkajs' | 'confluent', KafkaPort>;

  beforeAll(async () => {
    const env = testEnv();
    readers = {
      kafkajs: await createKafka({ ...env.kafka, client: 'kafkajs' }, testLogger(), 'codecs-read'),
      confluent: await createKafka({ ...env.kafka, client: 'confluent' }, testLogger(), 'codecs-read'),
    };
  });

  test.each([
    ['confluent', 'kafkajs'],
    ['kafkajs', 'confluent'],
  ] as const)('written by %s, read by %s', async (writer, reader) => {
    const topic = uniqueName(`codecs-${compression}-${writer}`);
    const admin = readers.kafkajs.admin();
    try {
      await admin.createTopics([{ name: topic, partitions: 1, replicationFactor: -1, config: {} }]);
    } finally {
      await admin.disconnect();
    }
    await write(writer, compression, topic);
    expect(await readAll(readers[reader], topic)).toEqual(VALUES);
  });
});
