/**
 * Record-batch compression across the Kafka backends, against the real broker: each backend
 * other than kafkajs writes every KAFKA_COMPRESSION codec (the batch on the broker carries that
 * codec's id) so that the kafkajs backend (flowyard's codecs, Java's snappy framing included)
 * reads it, and reads what the kafkajs backend wrote with each. confluent compresses in
 * librdkafka; platformatic in-process (node:zlib for gzip and zstd, WebAssembly for snappy and lz4).
 */
import { Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import { createKafka } from '../../../src/kafka/client.js';
import { COMPRESSIONS } from '../../../src/kafka/compression.js';
import type { KafkaClientName, KafkaPort } from '../../../src/kafka/port.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { KAFKA_BACKENDS_UNDER_TEST } from '../../helpers/kafka-backends.js';
import { testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

const VALUES = Array.from({ length: 50 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(200)}"}`);
/** Kafka's codec ids, the low three bits of a record batch's attributes. */
const CODEC_IDS = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;

async function write(client: KafkaClientName, compression: (typeof COMPRESSIONS)[number], topic: string): Promise<void> {
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

/** The codec ids of the record batches partition 0 of `topic` holds, as the broker returns them (a raw fetch, no flowyard code). */
async function codecsOnBroker(topic: string): Promise<number[]> {
  const consumer = new Consumer({ clientId: 'codecs-raw', bootstrapBrokers: [...testEnv().kafka.brokers], groupId: uniqueName('codecs-raw') });
  try {
    const metadata = await consumer.metadata({ topics: [topic] });
    const { id, partitions } = metadata.topics.get(topic)!;
    const response = await consumer.fetch({
      node: partitions[0]!.leader,
      topics: [{ topicId: id, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1_048_576, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }],
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 100,
    });
    return response.responses.flatMap((t) => t.partitions.flatMap((p) => (p.records ?? []).map((batch) => batch.attributes & 0x07)));
  } finally {
    await consumer.close();
  }
}

const OTHER_BACKENDS = KAFKA_BACKENDS_UNDER_TEST.filter((client) => client !== 'kafkajs');

describe.each(OTHER_BACKENDS)('%s', (backend) => {
  describe.each(COMPRESSIONS)('%s', (compression) => {
    let readers: Partial<Record<KafkaClientName, KafkaPort>>;

    beforeAll(async () => {
      const env = testEnv();
      readers = {
        kafkajs: await createKafka({ ...env.kafka, client: 'kafkajs' }, testLogger(), 'codecs-read'),
        [backend]: await createKafka({ ...env.kafka, client: backend }, testLogger(), 'codecs-read'),
      };
    });

    test.each([
      [backend, 'kafkajs'],
      ['kafkajs', backend],
    ] as const)('written by %s, read by %s', async (writer, reader) => {
      const topic = uniqueName(`codecs-${compression}-${writer}`);
      const admin = readers.kafkajs!.admin();
      try {
        await admin.createTopics([{ name: topic, partitions: 1, replicationFactor: -1, config: {} }]);
      } finally {
        await admin.disconnect();
      }
      await write(writer, compression, topic);
      expect(new Set(await codecsOnBroker(topic))).toEqual(new Set([CODEC_IDS[compression]]));
      expect(await readAll(readers[reader]!, topic)).toEqual(VALUES);
    });
  });
});
