/**
 * How to dead-letter a record that a topic refuses as too large on the transactional kafka
 * path: the dead letter (and the failed completion, which carries the value too) keeps a
 * bounded prefix of the value and says where the whole value still is (`fy-origin`), so both
 * always fit and the partition never stalls.
 */
import type { ConsumedRecord } from '../kafka/records.js';
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
