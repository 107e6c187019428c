/**
 * Reads a topic the way a downstream Kafka consumer with isolation.level=read_committed
 * does, from the beginning up to the high watermark taken at the call. Call it once every
 * producer of the topic is stopped (or its transactions are decided): then the last stable
 * offset is the high watermark and the read ends on a condition, not on a quiet period.
 */
import { randomUUID } from 'node:crypto';
import type { KafkaClient } from '../../src/kafka/client.js';
import { highWatermarks } from '../../src/kafka/offsets.js';
import { toConsumedRecord, type ConsumedRecord } from '../../src/kafka/records.js';
import { eventually } from './servers.js';

export async function readCommitted(kafka: KafkaClient, topic: string, timeoutMs = 60_000): Promise<ConsumedRecord[]> {
  const ends = (await highWatermarks(kafka, [topic])).get(topic) ?? new Map<number, string>();
  const position = new Map<number, bigint>();
  const records: ConsumedRecord[] = [];
  const reached = () => [...ends].every(([partition, high]) => (position.get(partition) ?? 0n) >= BigInt(high));
  if (reached()) return records;
  const consumer = kafka.consumer({ groupId: `flowyard-read-${randomUUID()}`, allowAutoTopicCreation: false, readUncommitted: false, maxWaitTimeInMs: 100 });
  const advance = (partition: number, lastOffset: string) => {
    const next = BigInt(lastOffset) + 1n;
    if (next > (position.get(partition) ?? 0n)) position.set(partition, next);
  };
  // Batches holding only markers or aborted records reach the handler empty or not at all; this event still moves the position.
  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
    if (event.payload.lastOffset !== null) advance(event.payload.partition, event.payload.lastOffset);
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) records.push(toConsumedRecord(batch.topic, batch.partition, message));
        advance(batch.partition, batch.lastOffset());
      },
    });
    if (!(await eventually(reached, timeoutMs, 50))) {
      throw new Error(`read_committed reader of ${topic} did not reach the high watermarks ${JSON.stringify([...ends])} (at ${JSON.stringify([...position].map(([p, o]) => [p, String(o)]))})`);
    }
  } finally {
    await consumer.disconnect();
  }
  // Per partition in offset order; partitions one after another.
  return records.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
}

/** Event ids a read_committed reader saw more than once, ids it never saw, and keys whose `n` went backwards. */
export function exactlyOnce(records: readonly ConsumedRecord[], eventIds: readonly string[]): { missing: string[]; duplicated: string[]; outOfOrderKeys: string[] } {
  const counts = new Map<string, number>();
  const lastN = new Map<string, number>();
  const outOfOrder = new Set<string>();
  for (const record of records) {
    const id = record.headers['fy-event-id'] ?? '';
    counts.set(id, (counts.get(id) ?? 0) + 1);
    const { n } = JSON.parse(record.value?.toString('utf8') ?? '{}') as { n?: number };
    const key = record.headers['fy-key'] ?? '';
    if (typeof n === 'number') {
      if ((lastN.get(key) ?? -1) > n) outOfOrder.add(key);
      lastN.set(key, n);
    }
  }
  return {
    missing: eventIds.filter((id) => !counts.has(id)),
    duplicated: [...counts].filter(([, c]) => c > 1).map(([id]) => id),
    outOfOrderKeys: [...outOfOrder],
  };
}
