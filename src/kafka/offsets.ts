import type { KafkaPort } from './port.js';
import { retryWhileRetriable } from './retriable.js';

/** High watermark (next offset) of every partition of `topics`; missing topics are skipped. */
export async function highWatermarks(kafka: KafkaPort, topics: readonly string[]): Promise<Map<string, Map<number, string>>> {
  const admin = kafka.admin();
  try {
    const existing = new Set(await admin.listTopics());
    const result = new Map<string, Map<number, string>>();
    for (const topic of topics.filter((t) => existing.has(t))) {
      const offsets = await retryWhileRetriable(kafka, () => admin.watermarks(topic));
      result.set(topic, new Map(offsets.map((o) => [o.partition, o.high])));
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}

/** Records added to `topic` between two watermark snapshots. */
export function recordsBetween(before: Map<string, Map<number, string>>, after: Map<string, Map<number, string>>, topic: string): number {
  let total = 0n;
  for (const [partition, high] of after.get(topic) ?? []) total += BigInt(high) - BigInt(before.get(topic)?.get(partition) ?? '0');
  return Number(total);
}
