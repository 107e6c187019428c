/**
 * Records on `<name>.completions`, keyed by the causal key so one group's records stay in
 * one partition, in order. Three kinds share the topic:
 *
 *   destination   a worker finished an event at its destination (ok, or failed for good)
 *   compensation  a compensation worker finished undoing a destination's write
 *   event         the tracker decided the event as a whole: `completed` (every destination
 *                 ok) or `failed` (one failed for good); the sequencer orders these
 *
 * Every kind carries the event's original value (base64), so the tracker can release a join
 * node or a compensation and the sequencer can emit the event without reading it back.
 */
import type { OutgoingRecord } from '../kafka/records.js';
import { newTraceparent, toHeaders, validTraceparent, type EventHeaders } from './headers.js';

interface CompletionBase {
  readonly eventId: string;
  readonly key: string;
  readonly seq: number;
  readonly plan: string;
  readonly ingestedAt: number;
  /** ms since epoch when the record was written. */
  readonly at: number;
  /** The event's original value, base64; null for a record without a value. */
  readonly value: string | null;
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

export function completionsRecord(record: CompletionsRecord): OutgoingRecord {
  return { key: record.key, value: JSON.stringify(record), headers: toHeaders(eventHeadersOf(record), 'attempts' in record ? record.attempts : 1) };
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

/** Any record of the completions topic; undefined for something else. */
export function parseCompletionsRecord(value: Buffer | null): CompletionsRecord | undefined {
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
  if (fields.kind === 'event') return fields.status === 'completed' || fields.status === 'failed' ? (parsed as EventOutcome) : undefined;
  if (fields.kind !== 'destination' && fields.kind !== 'compensation') return undefined;
  if (typeof fields.destination !== 'string' || (fields.status !== 'ok' && fields.status !== 'failed')) return undefined;
  return parsed as Completion;
}

/** A destination's completion; undefined for the other kinds. */
export function parseCompletion(value: Buffer | null): Completion | undefined {
  const record = parseCompletionsRecord(value);
  return record?.kind === 'destination' ? record : undefined;
}

/** The value bytes a completions record carries. */
export function originalValue(record: CompletionsRecord): Buffer | null {
  return record.value === null ? null : Buffer.from(record.value, 'base64');
}
