/**
 * Reads whole topics, from their start up to the high watermarks at the time of the call,
 * outside any consumer group's commits, for `flowyard shadow report`.
 */
import { RuntimeFailure } from '../errors.js';
import type { KafkaPort, PartitionRange } from '../kafka/port.js';
import type { ConsumedRecord } from '../kafka/records.js';
import { withTimeout } from '../resilience/timeout.js';

/**
 * Every record of `topics` up to their ends now, per topic in partition order.
 * @throws RuntimeFailure when a topic is missing or the end is not reached within `timeoutMs`.
 */
export async function readTopics(kafka: KafkaPort, topics: readonly string[], timeoutMs: number): Promise<Map<string, ConsumedRecord[]>> {
  const ranges = new Map<string, Map<number, PartitionRange>>();
  const admin = kafka.admin();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) throw new RuntimeFailure(`topic(s) ${missing.join(', ')} do not exist; has the topology (and its shadow) run? \`flowyard topics create\` creates them`);
    for (const topic of topics) {
      const watermarks = await admin.watermarks(topic);
      ranges.set(topic, new Map(watermarks.map((w) => [w.partition, { start: BigInt(w.low), end: BigInt(w.high) }])));
    }
  } finally {
    await admin.disconnect();
  }
  const records = new Map<string, ConsumedRecord[]>(topics.map((topic) => [topic, []]));
  await withTimeout(
    timeoutMs,
    () =>
      Promise.all(
        [...ranges].map(([topic, range]) =>
          // The stall bound ends a read the timeout gave up on.
          kafka.readRange(topic, range, async (batch) => void records.get(topic)!.push(...batch), { purpose: 'flowyard-report', stallTimeoutMs: timeoutMs }),
        ),
      ),
    () => new RuntimeFailure(`reading ${topics.join(', ')} did not reach their ends within ${timeoutMs / 1000} s`),
  );
  for (const list of records.values()) list.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  return records;
}
