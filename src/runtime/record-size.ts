/**
 * Records against their topics' `max.message.bytes`. How to dead-letter a record that a topic
 * refuses as too large: the dead letter (and the failed completion, which carries the value
 * too) keeps a bounded prefix of the value and says where the whole value still is
 * (`fy-origin`), so both always fit and the partition never stalls. `TopicLimits` measures a
 * role's outgoing records once the broker refused one (docs/architecture.md §5).
 */
import type { KafkaPort } from '../kafka/port.js';
import { estimateRecordBytes, maxMessageBytes } from '../kafka/message-size.js';
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { HEADER } from './headers.js';

/** The broker's default `message.max.bytes` (1 MiB + 12 bytes of log overhead). */
export const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** The most of a refused value a dead letter keeps (the rest stays at `fy-origin`). */
export const TRUNCATED_VALUE_BYTES = 64 * 1024;

/**
 * The consumed record as a dead letter may carry it: at most `maxValueBytes` of its value,
 * with `fy-truncated` saying how long the value was.
 */
export function truncatedOrigin(record: ConsumedRecord, maxValueBytes = TRUNCATED_VALUE_BYTES): ConsumedRecord {
  const length = record.value?.length ?? 0;
  if (record.value === null || length <= maxValueBytes) return record;
  return {
    ...record,
    value: record.value.subarray(0, maxValueBytes),
    headers: { ...record.headers, [HEADER.truncated]: String(length) },
  };
}

/** A record larger than its topic allows. */
export interface Oversize {
  readonly topic: string;
  /** The record's estimated size (an upper bound of what the broker checks). */
  readonly bytes: number;
  /** The topic's `max.message.bytes`. */
  readonly limit: number;
}

/**
 * `max.message.bytes` of the topics a role writes, as last read from the broker. A topic not
 * read (missing, or the broker could not say) counts at the broker's default.
 */
export class TopicLimits {
  constructor(private readonly bytes: ReadonlyMap<string, number> = new Map()) {}

  limitOf(topic: string): number {
    return this.bytes.get(topic) ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** How `record` exceeds `topic`'s limit; undefined when it fits. */
  oversizeOf(topic: string, record: OutgoingRecord): Oversize | undefined {
    const bytes = estimateRecordBytes(record);
    const limit = this.limitOf(topic);
    return bytes > limit ? { topic, bytes, limit } : undefined;
  }

  /**
   * Reads the limits of `topics` again; keeps what was known when the broker cannot say, so a
   * refused record is still measured (against the last known value or the broker's default).
   */
  async refreshed(kafka: KafkaPort, topics: readonly string[], onError: (error: unknown) => void): Promise<TopicLimits> {
    const bytes = new Map(this.bytes);
    try {
      for (const [topic, limit] of await maxMessageBytes(kafka, topics)) if (Number.isSafeInteger(limit.bytes) && limit.bytes > 0) bytes.set(topic, limit.bytes);
    } catch (error) {
      onError(error);
    }
    return new TopicLimits(bytes);
  }
}

/** The reason a dead letter gives for `what` (e.g. `the hand-on copy to billing`) not fitting its topic. */
export function oversizeReason(what: string, oversize: Oversize): string {
  return `${what} is ${oversize.bytes} bytes, more than topic ${oversize.topic} allows (max.message.bytes ${oversize.limit}); raise max.message.bytes of ${oversize.topic} or make the event smaller`;
}
