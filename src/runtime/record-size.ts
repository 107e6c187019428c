/**
 * How big a record is on the wire, and how to dead-letter one that a topic refuses as too
 * large: the dead letter keeps a bounded prefix of the value and says where the whole value
 * still is (`fy-origin`), so it always fits in the DLQ topic and never stalls its partition.
 */
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { HEADER } from './headers.js';

/**
 * Bytes a record batch of one record adds around key, value and headers: 61 for the batch
 * header (magic v2) plus up to ~25 of varints per record and header. Rounded up: an estimate
 * that is slightly too large only dead-letters a record a few bytes below the limit.
 */
const RECORD_OVERHEAD_BYTES = 100;
const HEADER_OVERHEAD_BYTES = 10;

/** The broker's default `message.max.bytes` (1 MiB + 12 bytes of log overhead). */
export const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** The most of a refused value a dead letter keeps (the rest stays at `fy-origin`). */
export const TRUNCATED_VALUE_BYTES = 64 * 1024;

function bytesOf(value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/** The size a one-record batch of `record` has on the wire, slightly over-estimated. */
export function recordSize(record: OutgoingRecord): number {
  let size = RECORD_OVERHEAD_BYTES + bytesOf(record.key) + bytesOf(record.value);
  if (record.headers !== undefined) {
    for (const name in record.headers) size += HEADER_OVERHEAD_BYTES + Buffer.byteLength(name) + Buffer.byteLength(record.headers[name]!);
  }
  return size;
}

/**
 * The consumed record as a dead letter may carry it: at most `TRUNCATED_VALUE_BYTES` of its
 * value, with `fy-original-bytes` saying how long the value was.
 */
export function truncatedOrigin(record: ConsumedRecord, maxValueBytes = TRUNCATED_VALUE_BYTES): ConsumedRecord {
  const length = record.value?.length ?? 0;
  if (record.value === null || length <= maxValueBytes) return record;
  return {
    ...record,
    value: record.value.subarray(0, maxValueBytes),
    headers: { ...record.headers, [HEADER.originalBytes]: String(length) },
  };
}
