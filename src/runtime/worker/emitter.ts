/**
 * What a destination step puts on Kafka once an event is decided there
 * (docs/architecture.md §6, §7): on success the copy for each next step plus an `ok`
 * completion; on failure for good a dead letter plus a `failed` completion. Builds records only; the caller owns
 * how they are produced (the worker: an idempotent producer, retried until it succeeds; a
 * transactional role: inside its batch's transaction), so every path emits the same records.
 *
 * Given the topics' limits (`TopicLimits`, once the broker refused a record as too large), every
 * record is made to fit: a hand-on copy too large for a next step's input becomes that step's
 * `oversized` dead letter plus a `failed` completion in its name (the next step never gets the
 * event, so the tracker decides it failed there); a completion too large goes without the value
 * (`valueOmittedBytes`); a dead letter too large keeps the start of its value (`fy-truncated`).
 */
import { withCarried, type ConsumedRecord, type OutgoingRecord } from '../../kafka/records.js';
import type { Plan, WorkerSlice } from '../../topology/plan.js';
import { completionsRecord, withoutValue, type Completion } from '../completion.js';
import { deadLetterRecord, fitDeadLetter, type DeadLetterClass } from '../dead-letter.js';
import { toHeaders, type EventHeaders } from '../headers.js';
import { oversizeReason, type Oversize, type TopicLimits } from '../record-size.js';

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

/** A record that did not fit its topic, and what went instead. */
export interface OversizedRecord extends Oversize {
  /** The destination the record was for: the next step of a hand-on, else this worker's. */
  readonly destination: string;
  /** `dead_letter`: the hand-on became a dead letter; `value_omitted`: the completion went without the value. */
  readonly outcome: 'dead_letter' | 'value_omitted';
}

/** The records of one decided event, made to fit their topics. */
export interface FittedEmission {
  readonly records: RecordsByTopic;
  readonly oversized: readonly OversizedRecord[];
  /** This worker's own dead letters among the records, by class (hand-on dead letters are in `oversized`). */
  readonly deadLetters: ReadonlyMap<DeadLetterClass, number>;
}

export class StepEmitter {
  private readonly compensating: boolean;
  /** Next step's destination name by its input topic. */
  private readonly nextByTopic: ReadonlyMap<string, string>;

  constructor(private readonly options: StepEmitterOptions) {
    this.compensating = options.worker.kind === 'compensation';
    this.nextByTopic = new Map(options.plan.destinations.filter((d) => options.worker.nextTopics.includes(d.inputTopic)).map((d) => [d.inputTopic, d.name]));
  }

  /**
   * The event was written (or found done): a copy for each next step, carrying `traceparent`
   * (the write's span, so one trace runs through the steps), and an `ok` completion.
   */
  succeeded(origin: ConsumedRecord, event: EventHeaders, attempts: number, traceparent: string | undefined): RecordsByTopic {
    return this.succeededWithin(undefined, origin, event, attempts, traceparent).records;
  }

  /** `succeeded`, every record made to fit `limits` (none measured when undefined). */
  succeededWithin(limits: TopicLimits | undefined, origin: ConsumedRecord, event: EventHeaders, attempts: number, traceparent: string | undefined): FittedEmission {
    const fitted = new Fitting(limits);
    const headers = toHeaders({ ...event, traceparent: traceparent ?? event.traceparent }, 1);
    const copy: OutgoingRecord = { key: event.key, value: origin.value, headers, ...withCarried(origin.carriedHeaders) };
    for (const topic of this.options.worker.nextTopics) {
      const oversize = limits?.oversizeOf(topic, copy);
      if (oversize === undefined) {
        fitted.add(topic, copy);
        continue;
      }
      // The next step cannot receive the event: it fails there for good, as a permanent write error would.
      const next = this.nextByTopic.get(topic) ?? topic;
      const error = oversizeReason(`the hand-on copy to destination ${next}`, oversize);
      fitted.oversized.push({ ...oversize, destination: next, outcome: 'dead_letter' });
      this.addDeadLetter(fitted, deadLetterRecord({ origin, errorClass: 'oversized', error, destination: next, attempts: 0 }));
      this.addCompletion(fitted, this.completion(origin, event, next, 'failed', 0, error));
    }
    this.addCompletion(fitted, this.completion(origin, event, this.options.worker.destination, 'ok', attempts));
    return fitted.emission();
  }

  /**
   * The event failed for good (or the record is not a flowyard copy, `event` undefined): a
   * dead letter with the original value and, for an event, a `failed` completion.
   */
  deadLettered(origin: ConsumedRecord, event: EventHeaders | undefined, failureClass: DeadLetterClass, error: string, attempts: number): DeadLetterEmission {
    const { records, deadLetters } = this.deadLetteredWithin(undefined, origin, event, failureClass, error, attempts);
    return { records, errorClass: [...deadLetters.keys()][0]! };
  }

  /** `deadLettered`, every record made to fit `limits` (none measured when undefined). */
  deadLetteredWithin(limits: TopicLimits | undefined, origin: ConsumedRecord, event: EventHeaders | undefined, failureClass: DeadLetterClass, error: string, attempts: number): FittedEmission {
    const { worker } = this.options;
    const fitted = new Fitting(limits);
    // A record that is not a flowyard copy stays `invalid`; everything else a compensation gives up on is `compensation`.
    const errorClass: DeadLetterClass = this.compensating && event !== undefined ? 'compensation' : failureClass;
    this.addDeadLetter(fitted, deadLetterRecord({ origin, errorClass, error, destination: worker.destination, attempts }), errorClass);
    if (event) this.addCompletion(fitted, this.completion(origin, event, worker.destination, 'failed', attempts, error));
    return fitted.emission();
  }

  /** `errorClass`: counted as this worker's own dead letter (a hand-on's is the next step's, in `oversized`). */
  private addDeadLetter(fitted: Fitting, letter: OutgoingRecord, errorClass?: DeadLetterClass): void {
    const { dlqTopic } = this.options.plan;
    fitted.add(dlqTopic, fitted.limits === undefined ? letter : fitDeadLetter(letter, fitted.limits.limitOf(dlqTopic)));
    if (errorClass !== undefined) fitted.deadLetters.set(errorClass, (fitted.deadLetters.get(errorClass) ?? 0) + 1);
  }

  /** A completion too large for its topic goes without the value: the tracker still learns the outcome. */
  private addCompletion(fitted: Fitting, completion: Completion): void {
    const topic = this.options.plan.completionsTopic;
    const record = completionsRecord(completion);
    const oversize = fitted.limits?.oversizeOf(topic, record);
    if (oversize === undefined) {
      fitted.add(topic, record);
      return;
    }
    fitted.oversized.push({ ...oversize, destination: completion.destination, outcome: 'value_omitted' });
    fitted.add(topic, completionsRecord(withoutValue(completion)));
  }

  private completion(origin: ConsumedRecord, event: EventHeaders, destination: string, status: 'ok' | 'failed', attempts: number, error?: string): Completion {
    return {
      kind: this.compensating ? 'compensation' : 'destination',
      eventId: event.eventId,
      key: event.key,
      seq: event.seq,
      plan: event.plan,
      destination,
      status,
      attempts,
      ingestedAt: event.ingestedAt,
      at: Date.now(),
      value: origin.value,
      origin: { topic: origin.topic, partition: origin.partition, offset: origin.offset },
      traceparent: event.traceparent,
      ...(error !== undefined && { error }),
    };
  }
}

/** Records being built for one event, with what did not fit. */
class Fitting {
  readonly records: RecordsByTopic = new Map();
  readonly oversized: OversizedRecord[] = [];
  readonly deadLetters = new Map<DeadLetterClass, number>();

  constructor(readonly limits: TopicLimits | undefined) {}

  add(topic: string, record: OutgoingRecord): void {
    const list = this.records.get(topic);
    if (list === undefined) this.records.set(topic, [record]);
    else list.push(record);
  }

  emission(): FittedEmission {
    return { records: this.records, oversized: this.oversized, deadLetters: this.deadLetters };
  }
}
