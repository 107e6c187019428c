/**
 * What one sequencer step puts on Kafka: completed events in seq order on the output (the
 * original value, keyed by the causal key, flowyard headers) and `late` dead letters, with
 * the group snapshots and partitions the step changed. `commit.ts` makes it durable. An event
 * whose value the output cannot carry (left out of its verdict, or too large for the output
 * topic) is dead-lettered `oversized` in its place (`oversizedLetter`): its seq still counts
 * as emitted, so the group goes on.
 */
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { eventHeadersOf, type EventOutcome } from '../runtime/completion.js';
import { deadLetterRecord } from '../runtime/dead-letter.js';
import { HEADER, toHeaders } from '../runtime/headers.js';
import type { GroupSnapshot } from './buffer.js';

/** What one step changed, made durable by one flush. */
export interface Pending {
  readonly outputs: SequencedOutput[];
  readonly deadLetters: OutgoingRecord[];
  /** Snapshot of every group whose next expected seq moved. */
  readonly snapshots: Map<string, GroupSnapshot>;
  /** Partitions whose groups or offsets changed. */
  readonly partitions: Set<number>;
  gaps: number;
  late: number;
  /** Verdicts without their value (`valueOmittedBytes`), dead-lettered instead of written to the output. */
  valueOmitted: number;
}

/** A completed event on its way to the output. */
export interface SequencedOutput {
  readonly record: OutgoingRecord;
  readonly outcome: EventOutcome;
}

export function newPending(): Pending {
  return { outputs: [], deadLetters: [], snapshots: new Map(), partitions: new Set(), gaps: 0, late: 0, valueOmitted: 0 };
}

/** The output record of a completed event. */
export function outputRecord(outcome: EventOutcome): SequencedOutput {
  return { record: { key: outcome.key, value: outcome.value, headers: toHeaders(eventHeadersOf(outcome), 1) }, outcome };
}

/**
 * The dead letter written instead of a completed event's output when the output cannot carry
 * it: the event's value as far as the verdict has it (none when it was left out, `fy-truncated`
 * saying how large it was), and `fy-origin` naming the whole event where a worker read it.
 */
export function oversizedLetter(outcome: EventOutcome, error: string): OutgoingRecord {
  const { topic, partition, offset } = outcome.origin;
  const omitted = outcome.valueOmittedBytes;
  return deadLetterRecord({
    origin: {
      topic,
      partition,
      offset,
      key: Buffer.from(outcome.key),
      value: outcome.value ?? Buffer.alloc(0),
      headers: { ...toHeaders(eventHeadersOf(outcome), 1), ...(omitted !== undefined && { [HEADER.truncated]: String(omitted) }) },
    },
    errorClass: 'oversized',
    error,
    destination: 'sequencer',
    attempts: 1,
  });
}

/** The dead letter of a completed event that arrived after the sequencer skipped its gap. */
export function lateLetter(outcome: EventOutcome, record: ConsumedRecord, snapshot: GroupSnapshot, holdMs: number): OutgoingRecord {
  // The event's own bytes and headers, so a replay puts back the event; fy-origin names the completions record.
  return deadLetterRecord({
    origin: { topic: record.topic, partition: record.partition, offset: record.offset, key: Buffer.from(outcome.key), value: outcome.value, headers: toHeaders(eventHeadersOf(outcome), 1) },
    errorClass: 'late',
    error: `seq ${outcome.seq} of key ${JSON.stringify(outcome.key)} arrived after the sequencer skipped its gap (held longer than holdMs ${holdMs} ms; next expected ${snapshot.nextExpected})`,
    destination: 'sequencer',
    attempts: 1,
  });
}
