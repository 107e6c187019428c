/**
 * Reads topics from their start up to the high watermarks they have when the call begins, and
 * returns every record. A test that must show "nothing more arrived" (no duplicate, no second
 * copy) first waits until what it expects is there, then reads up to the high watermark: every
 * record written before that moment is in the answer, with no quiet window to guess.
 *
 * Isolation is read_committed by default (kafkajs' default, and what flowyard's own consumers
 * use): records of aborted transactions are never returned, and records of a transaction still
 * open wait until it resolves. Transaction markers take offsets too; the read counts them, so
 * a partition whose last offset is a commit marker still counts as read to its end.
 */
import { randomUUID } from 'node:crypto';
import type { KafkaClient } from '../../src/kafka/client.js';
import { highWatermarks } from '../../src/kafka/offsets.js';
import { toConsumedRecord, type ConsumedRecord } from '../../src/kafka/records.js';
import type { Plan, RoleName } from '../../src/topology/plan.js';

export interface ReadOptions {
  /** `read_uncommitted` also returns records of open and aborted transactions. */
  readonly isolation?: 'read_committed' | 'read_uncommitted';
  /** Gives up (and throws, naming the partitions not read to their end) after this long; ms. */
  readonly timeoutMs?: number;
}

export async function readToHighWatermark(kafka: KafkaClient, topics: readonly string[], options: ReadOptions = {}): Promise<ConsumedRecord[]> {
  const targets = await highWatermarks(kafka, topics);
  /** Next offset to read per `topic/partition`, for the partitions that hold anything. */
  const remaining = new Map<string, bigint>();
  for (const [topic, partitions] of targets) {
    for (const [partition, offset] of partitions) if (BigInt(offset) > 0n) remaining.set(`${topic}/${partition}`, BigInt(offset));
  }
  if (remaining.size === 0) return [];

  const records: ConsumedRecord[] = [];
  const consumer = kafka.consumer({
    groupId: `test-read-${randomUUID()}`,
    allowAutoTopicCreation: false,
    readUncommitted: options.isolation === 'read_uncommitted',
    maxWaitTimeInMs: 100,
  });
  let reached: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (reached = resolve));
  const advance = (topic: string, partition: number, lastOffset: string) => {
    const id = `${topic}/${partition}`;
    const target = remaining.get(id);
    if (target !== undefined && BigInt(lastOffset) + 1n >= target) remaining.delete(id);
    if (remaining.size === 0) reached();
  };
  // kafkajs resolves batches that hold only transaction markers without calling eachBatch.
  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
    if (event.payload.lastOffset !== null) advance(event.payload.topic, event.payload.partition, event.payload.lastOffset);
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    // Only topics that exist (highWatermarks skips missing ones): subscribing to a missing one would fail.
    await consumer.subscribe({ topics: [...targets.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const target = targets.get(batch.topic)?.get(batch.partition);
        for (const message of batch.messages) {
          // Records past the starting watermark were written after the call began: not part of the answer.
          if (target !== undefined && BigInt(message.offset) < BigInt(target)) records.push(toConsumedRecord(batch.topic, batch.partition, message));
        }
        advance(batch.topic, batch.partition, batch.lastOffset());
      },
    });
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`read of ${topics.join(', ')} did not reach the high watermark within ${timeoutMs} ms; still unread: ${[...remaining.keys()].join(', ')}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return records;
}

/** A consumer group and the topics it reads. */
export interface GroupTopics {
  readonly group: string;
  readonly topics: readonly string[];
}

/**
 * Waits until every group has committed up to the high watermark of every partition it reads,
 * with the watermarks unchanged since the previous look: everything that could still cause a
 * write (a redelivery, a hand-on, a release) has been processed. flowyard's roles commit only
 * what they finished (workers up to the lowest unfinished record, past transaction markers),
 * so "nothing more will arrive" becomes a condition to poll instead of a quiet period to sleep
 * through. Throws, naming the lagging group/topic/partition, after `timeoutMs`.
 */
export async function untilDrained(kafka: KafkaClient, groups: readonly GroupTopics[], timeoutMs = 120_000): Promise<void> {
  const topics = [...new Set(groups.flatMap((g) => g.topics))];
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  let previous = '';
  let lagging: string[] = [];
  try {
    for (;;) {
      const watermarks = await highWatermarks(kafka, topics);
      lagging = [];
      for (const { group, topics: read } of groups) {
        const committed = await admin.fetchOffsets({ groupId: group, topics: [...read] });
        for (const { topic, partitions } of committed) {
          for (const { partition, offset } of partitions) {
            const high = BigInt(watermarks.get(topic)?.get(partition) ?? '0');
            const at = offset === '-1' ? 0n : BigInt(offset);
            if (at < high) lagging.push(`${group} ${topic}/${partition} at ${at} of ${high}`);
          }
        }
      }
      const snapshot = JSON.stringify([...watermarks].map(([topic, partitions]) => [topic, [...partitions]]));
      if (lagging.length === 0 && snapshot === previous) return;
      previous = snapshot;
      if (Date.now() > deadline) throw new Error(`groups not drained within ${timeoutMs} ms: ${lagging.join('; ') || 'high watermarks still moving'}`);
      await new Promise((resolve) => setTimeout(resolve, 200)); // polling a state, not waiting out a window
    }
  } finally {
    await admin.disconnect();
  }
}

/** The groups (and their topics) of the plan's roles named in `roles`; compensation workers count as workers. */
export function planGroups(plan: Plan, roles: readonly RoleName[]): GroupTopics[] {
  return plan.roles.filter((role) => roles.includes(role.role)).map((role) => ({ group: role.group, topics: role.consumes }));
}
