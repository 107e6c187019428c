/**
 * The headers flowyard adds to every record it writes (docs/architecture.md §5). Values pass through
 * as the bytes that came in; everything flowyard knows about an event travels here.
 */
import { randomBytes } from 'node:crypto';

export const HEADER = {
  plan: 'fy-plan',
  eventId: 'fy-event-id',
  key: 'fy-key',
  seq: 'fy-seq',
  ingestedAt: 'fy-ingested-at',
  attempt: 'fy-attempt',
  traceparent: 'traceparent',
  error: 'fy-error',
  errorClass: 'fy-error-class',
  destination: 'fy-destination',
  attempts: 'fy-attempts',
  origin: 'fy-origin',
  /** On a dead letter whose value was cut to fit the DLQ: the original value's size in bytes. */
  truncated: 'fy-truncated',
  /** On a completions record: what it reports (src/runtime/completion.ts); readers pick their records by it alone. */
  kind: 'fy-kind',
  /** On a completions record: `ok` / `failed` (a destination's write or undo), `completed` / `failed` (an event's verdict). */
  status: 'fy-status',
  /** On a completions record: ms since epoch when it was written. */
  at: 'fy-at',
  /** On a `failed` verdict: the destinations that failed for good, comma-separated. */
  failed: 'fy-failed',
  /** On a completions record sent without the event's value (it would not fit the topic): the value's size in bytes. */
  valueOmitted: 'fy-value-omitted',
} as const;

/** What every routed copy carries; a worker reads these instead of decoding the value again. */
export interface EventHeaders {
  readonly plan: string;
  readonly eventId: string;
  readonly key: string;
  readonly seq: number;
  /** ms since epoch, when the router first consumed the event. */
  readonly ingestedAt: number;
  readonly traceparent: string;
}

export function toHeaders(event: EventHeaders, attempt = 1): Record<string, string> {
  return {
    [HEADER.plan]: event.plan,
    [HEADER.eventId]: event.eventId,
    [HEADER.key]: event.key,
    [HEADER.seq]: String(event.seq),
    [HEADER.ingestedAt]: String(event.ingestedAt),
    [HEADER.attempt]: String(attempt),
    [HEADER.traceparent]: event.traceparent,
  };
}

/** Reads a routed copy's headers; undefined reason names the first missing or malformed one. */
export function fromHeaders(headers: Readonly<Record<string, string>>): { ok: true; event: EventHeaders } | { ok: false; reason: string } {
  const missing = [HEADER.plan, HEADER.eventId, HEADER.key, HEADER.seq, HEADER.ingestedAt].filter((h) => !headers[h]);
  if (missing.length > 0) return { ok: false, reason: `missing header(s) ${missing.join(', ')}: not a record routed by flowyard` };
  const seq = Number(headers[HEADER.seq]);
  const ingestedAt = Number(headers[HEADER.ingestedAt]);
  if (!Number.isSafeInteger(seq) || seq < 1) return { ok: false, reason: `header ${HEADER.seq}=${JSON.stringify(headers[HEADER.seq])} is not a positive integer` };
  if (!Number.isFinite(ingestedAt)) return { ok: false, reason: `header ${HEADER.ingestedAt}=${JSON.stringify(headers[HEADER.ingestedAt])} is not a number` };
  return {
    ok: true,
    event: {
      plan: headers[HEADER.plan]!,
      eventId: headers[HEADER.eventId]!,
      key: headers[HEADER.key]!,
      seq,
      ingestedAt,
      traceparent: validTraceparent(headers[HEADER.traceparent]) ?? newTraceparent(),
    },
  };
}

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A W3C traceparent, if `value` is one (version 00). */
export function validTraceparent(value: string | undefined): string | undefined {
  return value !== undefined && TRACEPARENT.test(value) ? value : undefined;
}

/** Random bytes of one traceparent: a 16-byte trace id and an 8-byte span id. */
const TRACEPARENT_RANDOM_BYTES = 24;

/** Starts a new trace for an event that arrived without one (sampled). */
export function newTraceparent(): string {
  return newTraceparents(1)[0]!;
}

/**
 * `count` new traces (sampled) from ONE `randomBytes` call: a batch of events that arrived
 * without a trace pays one call into OpenSSL instead of two per event.
 */
export function newTraceparents(count: number): string[] {
  if (count <= 0) return [];
  const hex = randomBytes(TRACEPARENT_RANDOM_BYTES * count).toString('hex');
  const traces: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const at = i * TRACEPARENT_RANDOM_BYTES * 2;
    traces.push(`00-${hex.slice(at, at + 32)}-${hex.slice(at + 32, at + 48)}-01`);
  }
  return traces;
}

/**
 * The headers as the bytes Kafka carries, for records that share them: the router's copies of
 * one event (one per first topic) then share these Buffers, where string values would be
 * encoded to UTF-8 again for every copy.
 */
export function encodedHeaders(headers: Readonly<Record<string, string>>): Record<string, Buffer> {
  const encoded: Record<string, Buffer> = {};
  for (const name in headers) encoded[name] = Buffer.from(headers[name]!);
  return encoded;
}
