/**
 * Records on `<name>.completions`, keyed by the causal key so one group's records stay in
 * one partition, in order. Three kinds share the topic, named by the `fy-kind` header:
 *
 *   destination   a worker finished an event at its destination (ok, or failed for good)
 *   compensation  a compensation worker finished undoing a destination's write
 *   event         the tracker decided the event as a whole: `completed` (every destination
 *                 ok) or `failed` (one failed for good); the sequencer orders these
 *
 * A record's value is the event's original value, the bytes that came in (the tracker
 * releases a join node or a compensation from it, the sequencer emits it), so a record
 * costs no second copy of the value in another encoding. What it reports is in headers:
 * the event's own (`toHeaders`: plan, event id, key, seq, ingest time, attempt, traceparent)
 * plus `fy-kind`, `fy-status`, `fy-at`, `fy-origin`, and per kind `fy-destination`,
 * `fy-attempts`, `fy-error`, `fy-failed` (docs/architecture.md §5). A reader picks the records
 * meant for it by `fy-kind` alone, without reading the value; a kind it does not know (a
 * newer flowyard's, another system's record) is skipped.
 *
 * A record that would not fit the topic with the value (`max.message.bytes` set by hand below
 * the source's) goes without it, `fy-value-omitted` saying how large it was
 * (`valueOmittedBytes`): the outcome still counts, and whoever needs the value (a join release,
 * a compensation, the sequencer's output) dead-letters the event `oversized` instead; the whole
 * event stays at `fy-origin`.
 *
 * Records without `fy-kind` are the previous format (JSON, the value in base64): still read,
 * so completions written before an upgrade are tracked and `state recover` can rebuild from them.
 */
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { HEADER, newTraceparent, toHeaders, validTraceparent, type EventHeaders } from './headers.js';

export type CompletionKind = 'destination' | 'compensation' | 'event';

interface CompletionBase {
  readonly eventId: string;
  readonly key: string;
  readonly seq: number;
  readonly plan: string;
  readonly ingestedAt: number;
  /** ms since epoch when the record was written. */
  readonly at: number;
  /** The event's original value; null for a record without a value, or one left out (`valueOmittedBytes`). */
  readonly value: Buffer | null;
  /** Set when the value was left out because the record would not fit the completions topic: the value's size in bytes. */
  readonly valueOmittedBytes?: number;
  /** Where the record this one reports on was read, for logs and dead letters. */
  readonly origin: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly traceparent?: string;
}

/** One destination's (or its compensation's) outcome for one event. */
export interface Completion extends CompletionBase {
  readonly kind: 'destination' | 'compensation';
  readonly destination: string;
  /** `ok` also covers a write skipped because its done-key showed it had already happened. */
  readonly status: 'ok' | 'failed';
  readonly attempts: number;
  /** Why it failed, for `failed`. */
  readonly error?: string;
}

/** The tracker's verdict on an event. */
export interface EventOutcome extends CompletionBase {
  readonly kind: 'event';
  readonly status: 'completed' | 'failed';
  /** Destinations that failed for good (empty when completed). */
  readonly failed: readonly string[];
}

export type CompletionsRecord = Completion | EventOutcome;

/** `fy-error` is bounded like a dead letter's: a huge message must not make the record too large. */
const MAX_ERROR_LENGTH = 1_000;

export function completionsRecord(record: CompletionsRecord): OutgoingRecord {
  const { origin } = record;
  const headers: Record<string, string> = {
    ...toHeaders(eventHeadersOf(record), record.kind === 'event' ? 1 : record.attempts),
    [HEADER.kind]: record.kind,
    [HEADER.status]: record.status,
    [HEADER.at]: String(record.at),
    [HEADER.origin]: `${origin.topic}/${origin.partition}/${origin.offset}`,
  };
  if (record.valueOmittedBytes !== undefined) headers[HEADER.valueOmitted] = String(record.valueOmittedBytes);
  if (record.kind === 'event') {
    if (record.failed.length > 0) headers[HEADER.failed] = record.failed.join(',');
  } else {
    headers[HEADER.destination] = record.destination;
    headers[HEADER.attempts] = String(record.attempts);
    if (record.error !== undefined) headers[HEADER.error] = record.error.length > MAX_ERROR_LENGTH ? `${record.error.slice(0, MAX_ERROR_LENGTH)}…` : record.error;
  }
  return { key: record.key, value: record.value, headers };
}

/** The headers a routed copy of this event carries. */
export function eventHeadersOf(record: CompletionBase): EventHeaders {
  return {
    plan: record.plan,
    eventId: record.eventId,
    key: record.key,
    seq: record.seq,
    ingestedAt: record.ingestedAt,
    traceparent: validTraceparent(record.traceparent) ?? newTraceparent(),
  };
}

/** `record` without the event's value, saying how large it was: what goes on the completions topic when the whole record would not fit. */
export function withoutValue<T extends CompletionsRecord>(record: T): T {
  if (record.value === null) return record;
  return { ...record, value: null, valueOmittedBytes: record.value.length };
}

type Readable = Pick<ConsumedRecord, 'value' | 'headers'>;

/**
 * What a completions record reports, from its `fy-kind` header alone: a known kind, `unknown`
 * for a kind this flowyard does not write (skip it), `legacy` for a record of the previous
 * JSON format (no `fy-kind`).
 */
export function completionKindOf(record: Pick<ConsumedRecord, 'headers'>): CompletionKind | 'unknown' | 'legacy' {
  const kind = record.headers[HEADER.kind];
  if (kind === undefined) return 'legacy';
  return kind === 'destination' || kind === 'compensation' || kind === 'event' ? kind : 'unknown';
}

/** Any record of the completions topic; undefined for a kind not known here or a record that is not one. */
export function parseCompletionsRecord(record: Readable): CompletionsRecord | undefined {
  const kind = completionKindOf(record);
  if (kind === 'unknown') return undefined;
  if (kind === 'legacy') return parseLegacy(record.value);
  const { headers } = record;
  const eventId = headers[HEADER.eventId];
  const key = headers[HEADER.key];
  const plan = headers[HEADER.plan];
  const seq = Number(headers[HEADER.seq]);
  const ingestedAt = Number(headers[HEADER.ingestedAt]);
  const at = Number(headers[HEADER.at]);
  const origin = parseOrigin(headers[HEADER.origin]);
  if (eventId === undefined || key === undefined || plan === undefined || origin === undefined) return undefined;
  if (!Number.isSafeInteger(seq) || !Number.isFinite(ingestedAt) || !Number.isFinite(at)) return undefined;
  const traceparent = headers[HEADER.traceparent];
  const omitted = Number(headers[HEADER.valueOmitted]);
  const base = {
    eventId,
    key,
    seq,
    plan,
    ingestedAt,
    at,
    value: record.value,
    ...(Number.isSafeInteger(omitted) && omitted >= 0 && { valueOmittedBytes: omitted }),
    origin,
    ...(traceparent !== undefined && { traceparent }),
  };
  const status = headers[HEADER.status];
  if (kind === 'event') {
    if (status !== 'completed' && status !== 'failed') return undefined;
    const failed = headers[HEADER.failed];
    return { ...base, kind, status, failed: failed === undefined || failed === '' ? [] : failed.split(',') };
  }
  const destination = headers[HEADER.destination];
  const attempts = Number(headers[HEADER.attempts]);
  if (destination === undefined || (status !== 'ok' && status !== 'failed') || !Number.isSafeInteger(attempts)) return undefined;
  const error = headers[HEADER.error];
  return { ...base, kind, destination, status, attempts, ...(error !== undefined && { error }) };
}

/** A destination's completion; undefined for the other kinds. */
export function parseCompletion(record: Readable): Completion | undefined {
  if (completionKindOf(record) !== 'destination' && completionKindOf(record) !== 'legacy') return undefined;
  const parsed = parseCompletionsRecord(record);
  return parsed?.kind === 'destination' ? parsed : undefined;
}

/** `topic/partition/offset`; a topic name has no `/`. */
function parseOrigin(value: string | undefined): CompletionBase['origin'] | undefined {
  const match = value === undefined ? null : /^([^/]+)\/(\d+)\/(\d+)$/.exec(value);
  return match === null ? undefined : { topic: match[1]!, partition: Number(match[2]), offset: match[3]! };
}

/** A record of the previous format: JSON with the value in base64. */
function parseLegacy(value: Buffer | null): CompletionsRecord | undefined {
  if (value === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  if (typeof fields.eventId !== 'string' || typeof fields.key !== 'string' || typeof fields.seq !== 'number') return undefined;
  const original = typeof fields.value === 'string' ? Buffer.from(fields.value, 'base64') : null;
  if (fields.kind === 'event') return fields.status === 'completed' || fields.status === 'failed' ? ({ ...fields, value: original } as unknown as EventOutcome) : undefined;
  if (fields.kind !== 'destination' && fields.kind !== 'compensation') return undefined;
  if (typeof fields.destination !== 'string' || (fields.status !== 'ok' && fields.status !== 'failed')) return undefined;
  return { ...fields, value: original } as unknown as Completion;
}
