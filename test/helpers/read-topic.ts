/**
 * Reads topics from their start up to the high watermarks they have when the call begins, and
 * returns every record. A test that must show "nothing more arrived" (no duplicate, no second
 * copy) first waits until what it expects is there, then reads up to the high watermark: every
 * record written before that moment is in the answer, with no quiet window to guess.
 *
 * The read is read_committed (KafkaPort.readRange), what flowyard's own consumers use: records
 * of aborted transactions are never returned, and records of a transaction still open wait
 * until it resolves. Transaction markers take offsets too; the read counts them, so a partition
 * whose last offset is a commit marker still counts as read to its end.
 */
import type { KafkaPort } from '../../src/kafka/port.js';
import { highWatermarks } from '../../src/kafka/offsets.js';
import { topicRange } from '../../src/kafka/range-reader.js';
import type { ConsumedRecord } from '../../src/kafka/records.js';
import type { Plan, RoleName } from '../../src/topology/plan.js';

export interface ReadOptions {
  /** Gives up (and throws) when no partition advanced for this long; ms. */
  readonly timeoutMs?: number;
}

/** Per topic in `topics` order; per partition in offset order, partitions one after another. Missing topics are skipped. */
export async function readToHighWatermark(kafka: KafkaPort, topics: readonly string[], options: ReadOptions = {}): Promise<ConsumedRecord[]> {
  const read = await Promise.all(
    topics.map(async (topic) => {
      const range = await topicRange(kafka, topic, undefined);
      const records: ConsumedRecord[] = [];
      if (range !== undefined) {
        await kafka.readRange(topic, range, async (batch) => void records.push(...batch), { purpose: 'test-read', stallTimeoutMs: options.timeoutMs ?? 60_000 });
      }
      return records.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
    }),
  );
  return read.flat();
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
export async function untilDrained(kafka: KafkaPort, groups: readonly GroupTopics[], timeoutMs = 120_000): Promise<void> {
  const topics = [...new Set(groups.flatMap((g) => g.topics))];
  const admin = kafka.admin();
  const deadline = Date.now() + timeoutMs;
  let previous = '';
  let lagging: string[] = [];
  try {
    for (;;) {
      const watermarks = await highWatermarks(kafka, topics);
      lagging = [];
      for (const { group, topics: read } of groups) {
        for (const { topic, partition, offset } of await admin.committedOffsets(group, read)) {
          const high = BigInt(watermarks.get(topic)?.get(partition) ?? '0');
          const at = offset === '-1' ? 0n : BigInt(offset);
          if (at < high) lagging.push(`${group} ${topic}/${partition} at ${at} of ${high}`);
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
