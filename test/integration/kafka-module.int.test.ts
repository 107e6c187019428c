/**
 * Proves the Kafka module against the real local broker: idempotent topic creation, byte-exact
 * round trips with headers, and a graceful shutdown that loses and repeats nothing.
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { ensureTopics } from '../../src/kafka/topics.js';
import { produce } from '../../src/kafka/producer.js';
import { createKafka } from '../../src/kafka/client.js';
import type { ConsumedRecord } from '../../src/kafka/records.js';
import { createLogger } from '../../src/observability/logger.js';
import { eventually, testEnv, testKafka, uniqueName } from '../helpers/servers.js';

const kafka = await testKafka('kafka-module-test');

test('topic creation is idempotent and reports created vs existing', async () => {
  const a = uniqueName('it-topics-a');
  const b = uniqueName('it-topics-b');
  const first = await ensureTopics(kafka, [{ name: a, partitions: 3 }]);
  expect(first).toEqual({ created: [a], existing: [], tooFewPartitions: [] });

  const second = await ensureTopics(kafka, [
    { name: a, partitions: 3 },
    { name: b, partitions: 2 },
  ]);
  expect(second).toEqual({ created: [b], existing: [a], tooFewPartitions: [] });

  const third = await ensureTopics(kafka, [{ name: a, partitions: 6 }]);
  expect(third).toEqual({ created: [], existing: [a], tooFewPartitions: [{ name: a, has: 3, needs: 6 }] });
});

test('a produce/consume round trip keeps key, value bytes and headers', async () => {
  const topic = uniqueName('it-roundtrip');
  await ensureTopics(kafka, [{ name: topic, partitions: 1 }]);
  const value = Buffer.concat([randomBytes(1024), Buffer.from([0, 255, 0xc3, 0x28])]); // not valid UTF-8 on purpose
  const producer = await kafka.producer();
  await produce(producer, topic, [{ key: 'customer-42', value, headers: { 'fy-event-id': 'e-1', traceparent: '00-abc-def-01' } }]);
  await producer.disconnect();

  const received: ConsumedRecord[] = [];
  const consumer = kafka.groupConsumer({
    groupId: uniqueName('it-roundtrip-group'),
    topics: [topic],
    commitMode: 'after-batch',
    handleBatch: async (records) => void received.push(...records),
  });
  await consumer.start();
  try {
    expect(await eventually(() => received.length === 1, 30_000)).toBe(true);
  } finally {
    await consumer.disconnect();
  }
  const [record] = received;
  expect(record?.key?.toString()).toBe('customer-42');
  expect(record?.value?.equals(value)).toBe(true);
  expect(record?.headers).toEqual({ 'fy-event-id': 'e-1', traceparent: '00-abc-def-01' });
});

test('after a graceful shutdown a restarted consumer resumes where it stopped', async () => {
  const topic = uniqueName('it-resume');
  const groupId = uniqueName('it-resume-group');
  await ensureTopics(kafka, [{ name: topic, partitions: 2 }]);
  const producer = await kafka.producer();
  const total = 400;
  for (let chunk = 0; chunk < total / 40; chunk++) {
    // separate sends make several small batches, so shutdown lands mid-stream
    await produce(
      producer,
      topic,
      Array.from({ length: 40 }, (_, i) => ({ key: `k${(chunk * 40 + i) % 17}`, value: String(chunk * 40 + i) })),
    );
  }
  await producer.disconnect();

  const seen: string[] = [];
  const makeConsumer = () =>
    kafka.groupConsumer({
      groupId,
      topics: [topic],
      commitMode: 'after-batch',
      maxBytesPerPartition: 2_048, // small batches: the stop happens with more to read
      handleBatch: async (records) => {
        for (const r of records) {
          seen.push(r.value!.toString());
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      },
    });

  const first = makeConsumer();
  await first.start();
  expect(await eventually(() => seen.length >= 100, 30_000, 5)).toBe(true);
  first.stopFetching();
  await first.disconnect(); // waits for the batch in hand, which commits before returning
  const seenBeforeRestart = seen.length;
  expect(seenBeforeRestart).toBeLessThan(total);

  const second = makeConsumer();
  await second.start();
  try {
    expect(await eventually(() => seen.length >= total, 30_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000)); // a re-delivery would show up now
  } finally {
    await second.disconnect();
  }
  const counts = new Map<string, number>();
  for (const v of seen) counts.set(v, (counts.get(v) ?? 0) + 1);
  expect(counts.size).toBe(total); // nothing lost
  expect([...counts.values()].filter((n) => n > 1)).toEqual([]); // nothing re-delivered
});

test('a crash kafkajs does not restart from (a non-retriable error) rejoins the group: every record is still handled', async () => {
  const topic = uniqueName('it-crash');
  const groupId = uniqueName('it-crash-group');
  await ensureTopics(kafka, [{ name: topic, partitions: 1 }]);
  const producer = await kafka.producer();
  await produce(producer, topic, Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: String(i) })));
  await producer.disconnect();

  const logs: Record<string, unknown>[] = [];
  const captured = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const handled = new Set<string>();
  let crashed = false;
  // The kafkajs backend with the captured logger: the crash and the rejoin are kafkajs' behaviour, logged by the port.
  const capturingKafka = await createKafka({ ...testEnv().kafka, client: 'kafkajs' }, captured, 'kafka-module-crash');
  const consumer = capturingKafka.groupConsumer({
    groupId,
    topics: [topic],
    commitMode: 'after-batch',
    handleBatch: async (records) => {
      if (!crashed) {
        crashed = true;
        throw new kafkajs.KafkaJSNonRetriableError('a bug in a batch handler');
      }
      for (const r of records) handled.add(r.value!.toString());
    },
  });
  await consumer.start();
  try {
    expect(await eventually(() => handled.size === 20, 30_000)).toBe(true);
    expect(logs.filter((l) => l.msg === 'consumer crashed').map((l) => l.restart)).toEqual([false]);
    expect(logs.some((l) => l.msg === 'restarting the consumer kafkajs left stopped after a crash')).toBe(true);
  } finally {
    consumer.stopFetching();
    await consumer.disconnect();
  }
});
