/**
 * Reads whole topics, from their start up to the high watermarks at the time of the call,
 * with a throw-away consumer group (nothing is committed), for `flowyard shadow report`.
 */
import { randomUUID } from 'node:crypto';
import { RuntimeFailure } from '../errors.js';
import type { KafkaClient } from '../kafka/client.js';
import { highWatermarks } from '../kafka/offsets.js';
import { toConsumedRecord, type ConsumedRecord } from '../kafka/records.js';
import { withTimeout } from '../resilience/timeout.js';

/**
 * Every record of `topics` up to their ends now, per topic in partition order.
 * @throws RuntimeFailure when a topic is missing or the end is not reached within `timeoutMs`.
 */
export async function readTopics(kafka: KafkaClient, topics: readonly string[], timeoutMs: number): Promise<Map<string, ConsumedRecord[]>> {
  const ends = await highWatermarks(kafka, topics);
  const missing = topics.filter((topic) => !ends.has(topic));
  if (missing.length > 0) throw new RuntimeFailure(`topic(s) ${missing.join(', ')} do not exist; has the topology (and its shadow) run? \`flowyard topics create\` creates them`);
  const records = new Map<string, ConsumedRecord[]>(topics.map((topic) => [topic, []]));
  const remaining = new Map<string, bigint>();
  for (const [topic, partitions] of ends) for (const [partition, end] of partitions) if (BigInt(end) > 0n) remaining.set(`${topic}/${partition}`, BigInt(end));
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `flowyard-report-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    // Every batch, including one that held only transaction markers (which never reaches eachBatch), reports its last offset here.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const key = `${payload.topic}/${payload.partition}`;
      const end = remaining.get(key);
      if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(key);
      if (remaining.size === 0) finish();
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = remaining.get(`${batch.topic}/${batch.partition}`);
        if (end === undefined) return;
        for (const message of batch.messages) {
          if (BigInt(message.offset) >= end) break;
          records.get(batch.topic)!.push(toConsumedRecord(batch.topic, batch.partition, message));
        }
      },
    });
    await withTimeout(
      timeoutMs,
      () => done,
      () => new RuntimeFailure(`reading ${topics.join(', ')} did not reach their ends within ${timeoutMs / 1000} s (${[...remaining.keys()].join(', ')} unread)`),
    );
    return records;
  } finally {
    await consumer.disconnect();
  }
}
