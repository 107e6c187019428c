/**
 * Completion records on `<name>.completions`: one per (event, destination) outcome. The
 * tracker joins them per event; dashboards and tests read them too. Keyed by the causal
 * key so one group's completions stay in one partition, in order.
 */
import type { OutgoingRecord } from '../kafka/records.js';
import { toHeaders, type EventHeaders } from './headers.js';

export interface Completion {
  readonly eventId: string;
  readonly key: string;
  readonly seq: number;
  readonly plan: string;
  readonly destination: string;
  /** `ok` also covers a write skipped because its done-key showed it had already happened. */
  readonly status: 'ok' | 'failed';
  readonly attempts: number;
  readonly ingestedAt: number;
  /** ms since epoch when the destination finished with the event. */
  readonly at: number;
  /** Why it failed, for `failed`. */
  readonly error?: string;
  /** Where the event's original record was, so the tracker can find its value (compensation, sequencer). */
  readonly origin: { readonly topic: string; readonly partition: number; readonly offset: string };
}

export function completionRecord(completion: Completion, event: EventHeaders): OutgoingRecord {
  return { key: completion.key, value: JSON.stringify(completion), headers: toHeaders(event, completion.attempts) };
}

export function parseCompletion(value: Buffer | null): Completion | undefined {
  if (value === null) return undefined;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<Completion>;
    if (typeof parsed.eventId !== 'string' || typeof parsed.destination !== 'string' || (parsed.status !== 'ok' && parsed.status !== 'failed')) return undefined;
    return parsed as Completion;
  } catch {
    return undefined;
  }
}
