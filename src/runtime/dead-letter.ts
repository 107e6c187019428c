/**
 * Dead-letter records (docs/architecture.md §5): the original value, the original headers, and why.
 * Keyed by the causal key when known, so a replay lands on the same partitions.
 */
import { estimateRecordBytes } from '../kafka/message-size.js';
import { withCarried, type ConsumedRecord, type OutgoingRecord } from '../kafka/records.js';
import { HEADER } from './headers.js';

/** `fy-error-class`: the worker's classes plus the router's and later roles' own. */
export type DeadLetterClass = 'invalid' | 'destination' | 'timeout' | 'circuit-open' | 'late' | 'compensation' | 'oversized';

export interface DeadLetter {
  readonly origin: Pick<ConsumedRecord, 'topic' | 'partition' | 'offset' | 'key' | 'value' | 'headers' | 'carriedHeaders'>;
  readonly errorClass: DeadLetterClass;
  readonly error: string;
  /** Destination name, or `router` for events that never got that far. */
  readonly destination: string;
  readonly attempts: number;
  /** Extra flowyard headers (fy-plan and the like) to set or override. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Header values are bounded: a huge error message must not make the record too large. */
const MAX_ERROR_LENGTH = 1_000;

export function deadLetterRecord(letter: DeadLetter): OutgoingRecord {
  const { origin } = letter;
  return {
    key: origin.key,
    value: origin.value,
    ...withCarried(origin.carriedHeaders),
    headers: {
      ...origin.headers,
      ...letter.headers,
      [HEADER.error]: letter.error.length > MAX_ERROR_LENGTH ? `${letter.error.slice(0, MAX_ERROR_LENGTH)}…` : letter.error,
      [HEADER.errorClass]: letter.errorClass,
      [HEADER.destination]: letter.destination,
      [HEADER.attempts]: String(letter.attempts),
      [HEADER.origin]: `${origin.topic}/${origin.partition}/${origin.offset}`,
    },
  };
}

/** Room kept for the `fy-truncated` header and rounding when a value is cut. */
const TRUNCATION_SLACK_BYTES = 64;

/**
 * The dead letter as it fits a topic of `maxBytes` (`max.message.bytes`): unchanged when it
 * fits, else with its value cut to the first bytes that fit and `fy-truncated` set to the
 * original size. `fy-origin` still names the full event on its topic, partition and offset.
 */
export function fitDeadLetter(record: OutgoingRecord, maxBytes: number): OutgoingRecord {
  const size = estimateRecordBytes(record);
  if (size <= maxBytes || record.value === null) return record;
  const value = typeof record.value === 'string' ? Buffer.from(record.value) : record.value;
  const keep = Math.max(0, value.length - (size - maxBytes) - TRUNCATION_SLACK_BYTES);
  return { ...record, value: value.subarray(0, keep), headers: { ...record.headers, [HEADER.truncated]: String(value.length) } };
}
