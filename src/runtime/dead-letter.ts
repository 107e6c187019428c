/**
 * Dead-letter records (docs/architecture.md §5): the original value, the original headers, and why.
 * Keyed by the causal key when known, so a replay lands on the same partitions.
 */
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { HEADER } from './headers.js';

/** `fy-error-class`: the worker's classes plus the router's and later roles' own. */
export type DeadLetterClass = 'invalid' | 'destination' | 'timeout' | 'circuit-open' | 'late' | 'compensation';

export interface DeadLetter {
  readonly origin: Pick<ConsumedRecord, 'topic' | 'partition' | 'offset' | 'key' | 'value' | 'headers'>;
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
