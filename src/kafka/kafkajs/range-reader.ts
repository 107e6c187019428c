import { randomUUID } from 'node:crypto';
import { pollUntil } from '../../resilience/poll.js';
import type { PartitionRange, RangeReadOptions } from '../port.js';
import type { ConsumedRecord } from '../records.js';
import type { KafkaClient } from './client.js';
import { toConsumedRecord } from './records.js';

/** How often the read looks whether every partition reached its end (or stalled). */
const PROGRESS_CHECK_MS = 100;

/**
 * Reads `range` of `topic` (read_committed) with a throw-away group, handing each partition's
 * records in offset order to `handle`, batch by batch, and returns once every partition
 * reached its end. A failure of `handle` stops the read and is thrown.
 */
export async function readRange(
  kafka: KafkaClient,
  topic: string,
  range: ReadonlyMap<number, PartitionRange>,
  handle: (records: readonly ConsumedRecord[]) => Promise<void>,
  options: RangeReadOptions,
): Promise<void> {
  const next = new Map([...range].map(([partition, r]) => [partition, r.start]));
  const finished = () => [...range].every(([partition, r]) => next.get(partition)! >= r.end);
  if (finished()) return;
  // maxWaitTimeInMs: the fetch in flight when the seek below lands waits this long before the read starts (kafkajs' default is 5 s).
  const consumer = kafka.consumer({ groupId: `${options.purpose}-${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
  let progressAt = Date.now();
  let failure: unknown;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    // Batches of only transaction markers reach no eachBatch; this event still says how far a partition was read.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const reached = BigInt(payload.lastOffset) + 1n;
      if (payload.topic === topic && reached > (next.get(payload.partition) ?? 0n) && reached > (range.get(payload.partition)?.start ?? 0n)) {
        next.set(payload.partition, reached);
        progressAt = Date.now();
      }
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (failure !== undefined) return;
        const bounds = range.get(batch.partition);
        if (bounds === undefined) return;
        // A batch fetched before the seek below may start earlier, or repeat records already handled.
        const from = next.get(batch.partition)!;
        const records = batch.messages
          .filter((m) => BigInt(m.offset) >= from && BigInt(m.offset) < bounds.end)
          .map((m) => toConsumedRecord(batch.topic, batch.partition, m));
        try {
          await handle(records);
        } catch (error) {
          failure = error;
        }
      },
    });
    await joined;
    for (const [partition, r] of range) consumer.seek({ topic, partition, offset: r.start.toString() });
    const stallMs = options.stallTimeoutMs ?? 60_000;
    await pollUntil(
      () => {
        if (finished() || failure !== undefined) return true;
        if (Date.now() - progressAt <= stallMs) return false;
        const behind = [...range].filter(([p, r]) => next.get(p)! < r.end).map(([p, r]) => `partition ${p} at ${next.get(p)} of ${r.end}`);
        throw new Error(`reading ${topic} made no progress for ${stallMs / 1000} s (${behind.join(', ')}); records before were handled`);
      },
      { intervalMs: PROGRESS_CHECK_MS },
    );
    if (failure !== undefined) throw failure;
  } finally {
    await consumer.disconnect();
  }
}
