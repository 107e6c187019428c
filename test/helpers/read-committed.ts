/**
 * Reads a topic the way a downstream Kafka consumer with isolation.level=read_committed
 * does, from the beginning up to the high watermark taken at the call. Call it once every
 * producer of the topic is stopped (or its transactions are decided): then the last stable
 * offset is the high watermark and the read ends on a condition, not on a quiet period.
 */
import type { KafkaPort } from '../../src/kafka/port.js';
import type { ConsumedRecord } from '../../src/kafka/records.js';
import { readToHighWatermark } from './read-topic.js';

/** Per partition in offset order; partitions one after another. */
export function readCommitted(kafka: KafkaPort, topic: string, timeoutMs = 60_000): Promise<ConsumedRecord[]> {
  return readToHighWatermark(kafka, [topic], { timeoutMs });
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
