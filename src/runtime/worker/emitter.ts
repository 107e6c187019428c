/**
 * What a destination step puts on Kafka once an event is decided there
 * (docs/architecture.md §6, §7): on success the copy for each next step plus an `ok`
 * completion; on failure for good a dead letter plus a `failed` completion. Builds records only; the caller owns
 * how they are produced (the worker: an idempotent producer, retried until it succeeds; a
 * transactional role: inside its batch's transaction), so every path emits the same records.
 */
import { withCarried, type ConsumedRecord, type OutgoingRecord } from '../../kafka/records.js';
import type { Plan, WorkerSlice } from '../../topology/plan.js';
import { completionsRecord } from '../completion.js';
import { deadLetterRecord, type DeadLetterClass } from '../dead-letter.js';
import { toHeaders, type EventHeaders } from '../headers.js';

/** Records by topic, as `CoalescingProducer.send` and `produceTransactionally` take them. */
export type RecordsByTopic = Map<string, OutgoingRecord[]>;

export interface StepEmitterOptions {
  readonly plan: Plan;
  /** The worker's slice: a compensation worker never hands on, reports `compensation` completions, dead-letters as `compensation`. */
  readonly worker: WorkerSlice;
}

export interface DeadLetterEmission {
  readonly records: RecordsByTopic;
  /** The class the dead letter carries (a compensation's own failures become `compensation`). */
  readonly errorClass: DeadLetterClass;
}

export class StepEmitter {
  private readonly compensating: boolean;

  constructor(private readonly options: StepEmitterOptions) {
    this.compensating = options.worker.kind === 'compensation';
  }

  /**
   * The event was written (or found done): a copy for each next step, carrying `traceparent`
   * (the write's span, so one trace runs through the steps), and an `ok` completion.
   */
  succeeded(origin: ConsumedRecord, event: EventHeaders, attempts: number, traceparent: string | undefined): RecordsByTopic {
    const records: RecordsByTopic = new Map();
    const headers = toHeaders({ ...event, traceparent: traceparent ?? event.traceparent }, 1);
    const copy: OutgoingRecord = { key: event.key, value: origin.value, headers, ...withCarried(origin.carriedHeaders) };
    for (const topic of this.options.worker.nextTopics) records.set(topic, [copy]);
    records.set(this.options.plan.completionsTopic, [this.completion(origin, event, 'ok', attempts)]);
    return records;
  }

  /**
   * The event failed for good (or the record is not a flowyard copy, `event` undefined): a
   * dead letter with the original value and, for an event, a `failed` completion.
   */
  deadLettered(origin: ConsumedRecord, event: EventHeaders | undefined, failureClass: DeadLetterClass, error: string, attempts: number): DeadLetterEmission {
    const { plan, worker } = this.options;
    // A record that is not a flowyard copy stays `invalid`; everything else a compensation gives up on is `compensation`.
    const errorClass: DeadLetterClass = this.compensating && event !== undefined ? 'compensation' : failureClass;
    const records: RecordsByTopic = new Map([[plan.dlqTopic, [deadLetterRecord({ origin, errorClass, error, destination: worker.destination, attempts })]]]);
    if (event) records.set(plan.completionsTopic, [this.completion(origin, event, 'failed', attempts, error)]);
    return { records, errorClass };
  }

  private completion(origin: ConsumedRecord, event: EventHeaders, status: 'ok' | 'failed', attempts: number, error?: string): OutgoingRecord {
    return completionsRecord({
      kind: this.compensating ? 'compensation' : 'destination',
      eventId: event.eventId,
      key: event.key,
      seq: event.seq,
      plan: event.plan,
      destination: this.options.worker.destination,
      status,
      attempts,
      ingestedAt: event.ingestedAt,
      at: Date.now(),
      value: origin.value,
      origin: { topic: origin.topic, partition: origin.partition, offset: origin.offset },
      traceparent: event.traceparent,
      ...(error !== undefined && { error }),
    });
  }
}
