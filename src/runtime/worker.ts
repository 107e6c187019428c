/**
 * A destination worker (docs/architecture.md §6), one consumer group per destination, in the style of
 * Confluent Parallel Consumer: up to `concurrency` writes in flight, one per causal key with
 * `ordering: key`; offsets committed only up to the lowest unfinished record per partition.
 *
 * Per record: done-key check (Redis, one MGET per consumed batch) -> write with timeout ->
 * retries with backoff and jitter that block only this key, within the retry budget ->
 * done-key -> hand on to the next step + completion -> commit. After the last attempt: a
 * dead letter and a failed completion, and the key moves on. An open circuit pauses the
 * destination's partitions; waiting writes are held, never dropped, and do not spend attempts.
 *
 * This file is the role: consuming, scheduling keys, backpressure, the order of the steps
 * above. The parts live in worker/: executor.ts (the write, decided: timeout, retries,
 * budget, breaker), emitter.ts (the records a decided event produces: hand-on,
 * completion, dead letter), commit.ts (offset commits up to the lowest unfinished record).
 */
import { CoalescingProducer } from '../kafka/coalescing-producer.js';
import type { GroupConsumer, TopicPartitions } from '../kafka/port.js';
import type { ConsumedRecord } from '../kafka/records.js';
import { CIRCUIT_STATE_VALUE } from '../observability/metrics.js';
import { AbandonedError } from '../resilience/abort.js';
import { retryForever } from '../resilience/retry.js';
import type { EventDecoder } from '../schema/decoder.js';
import { SinkError, type Sink } from '../sinks/sink.js';
import type { PlanDestination } from '../topology/plan.js';
import { planLabels, type RoleContext } from './context.js';
import type { DeadLetterClass } from './dead-letter.js';
import { fromHeaders, type EventHeaders } from './headers.js';
import { KeyScheduler, type SchedulableRecord } from './key-scheduler.js';
import { RoleLifecycle, type Role } from './role.js';
import { waitAtStart } from './start-wait.js';
import { OffsetCommitter } from './worker/commit.js';
import { TopicLimits } from './record-size.js';
import { StepEmitter, type FittedEmission } from './worker/emitter.js';
import { WriteExecutor } from './worker/executor.js';

interface WorkItem extends SchedulableRecord {
  readonly record: ConsumedRecord;
  /** Undefined when the record is not a flowyard copy (then `invalidReason` says why). */
  readonly event: EventHeaders | undefined;
  readonly invalidReason?: string;
  /** The done-key was present when the batch was consumed. */
  readonly alreadyDone: boolean;
}

export interface WorkerOptions {
  /** Records buffered (queued + in flight) per worker process before consumption pauses. */
  readonly maxBuffered?: number;
  /** How often finished offsets are committed, ms. */
  readonly commitIntervalMs?: number;
  /**
   * Run as the destination's compensation worker: read its compensation topic in its own
   * group, undo with the sink given (the `compensate` config), never hand on, report
   * `compensation` completions, and dead-letter with class `compensation`.
   */
  readonly compensation?: boolean;
}

/** Enough to keep `concurrency` writers busy across a few fetches, small enough for a million-event backlog. */
const DEFAULT_MAX_BUFFERED_PER_CONCURRENCY = 32;
const MIN_MAX_BUFFERED = 1_000;
const DEFAULT_COMMIT_INTERVAL_MS = 100; // ms: bounds re-delivery after a crash to ~0.1 s of work
/** Waits between tries of infrastructure steps (Redis, the hand-on produce) that must not lose the event. */
const INFRA_BACKOFF = { initialDelayMs: 100, maxDelayMs: 5_000 } as const;

export class Worker implements Role {
  readonly name: string;
  private readonly lifecycle: RoleLifecycle;
  private readonly scheduler: KeyScheduler<WorkItem>;
  private readonly executor: WriteExecutor;
  private readonly emitter: StepEmitter;
  private readonly committer: OffsetCommitter;
  private readonly labels: { topology: string; plan: string; destination: string };
  private readonly stopping = new AbortController();
  private consumer: GroupConsumer | undefined;
  private output: CoalescingProducer | undefined;
  /** `max.message.bytes` of the topics this worker writes, read once the broker refused a record as too large. */
  private limits = new TopicLimits();
  private readonly writtenTopics: readonly string[];
  private assigned: readonly TopicPartitions[] = [];
  private readonly pausedForBackpressure = new Set<number>();
  private circuitPaused = false;
  /** Event ids being written right now, so an unordered duplicate waits instead of writing twice. */
  private readonly inProgress = new Map<string, Promise<void>>();
  private readonly idle: Set<() => void> = new Set();
  /** Records whose processing failed unexpectedly: still in flight for the scheduler, their keys blocked. */
  private readonly failed = new Set<WorkItem>();
  private readonly compensating: boolean;
  readonly inputTopic: string;
  private readonly group: string;
  /** Done-keys of compensations live apart from the writes they undo. */
  private readonly doneName: string;

  constructor(
    private readonly context: RoleContext,
    private readonly destination: PlanDestination,
    private readonly sink: Sink,
    private readonly decoder: EventDecoder,
    options: WorkerOptions = {},
  ) {
    this.compensating = options.compensation === true;
    const kind = this.compensating ? 'compensation' : 'write';
    const slice = context.plan.slices.workers.find((w) => w.destination === destination.name && w.kind === kind);
    if (slice === undefined) {
      throw new Error(this.compensating ? `destination ${destination.name} declares no compensate` : `destination ${destination.name} is not in plan ${context.plan.id}`);
    }
    this.name = this.compensating ? `compensator:${destination.name}` : `worker:${destination.name}`;
    this.inputTopic = slice.inputTopic;
    this.group = slice.group;
    this.doneName = slice.doneKeyName;
    this.writtenTopics = [...slice.nextTopics, context.plan.completionsTopic, context.plan.dlqTopic];
    this.lifecycle = new RoleLifecycle(this.name);
    const maxBuffered = options.maxBuffered ?? Math.max(MIN_MAX_BUFFERED, destination.concurrency * DEFAULT_MAX_BUFFERED_PER_CONCURRENCY);
    this.scheduler = new KeyScheduler<WorkItem>({
      ordering: destination.ordering,
      concurrency: destination.concurrency,
      maxBuffered,
      maxBufferedPerPartition: Math.max(1, Math.ceil(maxBuffered / 2)),
    });
    this.labels = { ...planLabels(context.plan), destination: this.doneName };
    this.executor = new WriteExecutor({ destination, sink, metrics: context.metrics, logger: context.logger, labels: this.labels, signal: this.stopping.signal });
    this.emitter = new StepEmitter({ plan: context.plan, worker: slice });
    this.committer = new OffsetCommitter({
      topic: this.inputTopic,
      source: this.scheduler,
      consumer: () => this.consumer,
      intervalMs: options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
      logger: context.logger,
      logFields: { destination: destination.name },
    });
    this.executor.onCircuitChange((state) => this.onCircuit(state));
  }

  async start(): Promise<void> {
    const { kafka, logger, metrics } = this.context;
    this.lifecycle.to('starting');
    metrics.circuitState.set(this.labels, CIRCUIT_STATE_VALUE.closed);
    // A destination that is down at start is waited for like an outage; a missing table stays a startup error.
    await waitAtStart(`destination ${this.destination.name}`, () => this.sink.start(), (error) => error instanceof SinkError && error.kind === 'retriable', {
      timeoutMs: this.context.env.startTimeoutMs,
      signal: this.stopping.signal,
      logger,
      fields: { destination: this.destination.name },
    });
    this.output = await CoalescingProducer.create(kafka);
    this.consumer = kafka.groupConsumer({
      groupId: this.group,
      topics: [this.inputTopic],
      commitMode: 'manual',
      handleBatch: (records) => this.onBatch(records),
      onAssignment: (assignment) => this.onAssignment(assignment),
      onSkipped: (topic, partition, first, last) => this.onSkipped(topic, partition, first, last),
    });
    await this.consumer.start();
    this.lifecycle.to('running');
    logger.info({ role: this.name, destination: this.destination.name, input: this.inputTopic }, 'worker running');
  }

  /** Graceful: stop fetching, let writes in flight finish (waits are cut short), commit, disconnect. */
  async stop(): Promise<void> {
    if (!this.lifecycle.beginStop()) return;
    this.consumer?.stopFetching();
    this.stopping.abort();
    for (const item of this.failed) this.scheduler.abandon(item);
    this.failed.clear();
    await this.whenIdle();
    await this.committer.flush();
    await this.consumer?.disconnect();
    await this.output?.close();
    await this.sink.close();
    this.context.metrics.inFlight.set(this.labels, 0);
    this.context.metrics.buffered.set(this.labels, 0);
    this.lifecycle.to('stopped');
  }

  private whenIdle(): Promise<void> {
    if (this.scheduler.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  // ---- consuming -----------------------------------------------------------------------

  private async onBatch(records: readonly ConsumedRecord[]): Promise<void> {
    const items = records.map((record): WorkItem => {
      const parsed = fromHeaders(record.headers);
      const key = parsed.ok ? parsed.event.key : `invalid:${record.partition}:${record.offset}`;
      return parsed.ok
        ? { partition: record.partition, offset: record.offset, key, record, event: parsed.event, alreadyDone: false }
        : { partition: record.partition, offset: record.offset, key, record, event: undefined, invalidReason: parsed.reason, alreadyDone: false };
    });
    const ids = items.flatMap((item) => (item.event ? [item.event.eventId] : []));
    const done = await this.retryInfra('checking done-keys', () => this.context.dedup.done(this.doneName, ids));
    this.scheduler.enqueue(items.map((item) => (item.event && done.has(item.event.eventId) ? { ...item, alreadyDone: true } : item)));
    const partition = records[0]!.partition;
    if (this.scheduler.isFull(partition)) this.pauseForBackpressure(this.scheduler.isFull() ? this.assignedPartitions() : [partition]);
    this.pump();
  }

  private onAssignment(assignment: readonly TopicPartitions[]): void {
    const mine = new Set(assignment.find((a) => a.topic === this.inputTopic)?.partitions ?? []);
    const lost = this.assignedPartitions().filter((p) => !mine.has(p));
    this.assigned = assignment;
    if (lost.length > 0) this.scheduler.revoke(lost);
    for (const p of lost) this.pausedForBackpressure.delete(p);
    if (this.circuitPaused) this.consumer?.pause(this.assigned);
    this.updatePausedGauge();
  }

  private onSkipped(topic: string, partition: number, first: string, last: string): void {
    // A partition revoked meanwhile belongs to another member now: nothing of it is ours to commit.
    if (topic !== this.inputTopic || !this.assignedPartitions().includes(partition)) return;
    this.scheduler.skip(partition, first, last);
    this.committer.schedule();
  }

  private assignedPartitions(): number[] {
    return [...(this.assigned.find((a) => a.topic === this.inputTopic)?.partitions ?? [])];
  }

  private pump(): void {
    if (this.stopping.signal.aborted) return;
    for (const item of this.scheduler.drainRunnable()) void this.run(item);
    this.context.metrics.inFlight.set(this.labels, this.scheduler.inFlight);
    this.context.metrics.buffered.set(this.labels, this.scheduler.size);
  }

  private async run(item: WorkItem): Promise<void> {
    let finished = false;
    try {
      await this.process(item);
      finished = true;
    } catch (error) {
      // Abandoned at shutdown: not completed, so not committed; the next owner gets it again.
      if (!(error instanceof AbandonedError)) this.context.logger.error({ err: error, ...this.logFields(item) }, 'unexpected worker failure; the record will be re-delivered');
    } finally {
      if (finished) this.scheduler.complete(item);
      // Until the stop, a failed record keeps its key blocked (a later event of the key must not
      // pass it); at the stop it is let go uncommitted, or the stop would wait for it forever.
      else if (this.stopping.signal.aborted) this.scheduler.abandon(item);
      else this.failed.add(item);
      this.afterRecord();
    }
  }

  private afterRecord(): void {
    if (this.scheduler.inFlight === 0 && this.stopping.signal.aborted) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
    if (this.stopping.signal.aborted) return;
    this.pump();
    this.resumeDrained();
    this.committer.schedule();
  }

  // ---- one record ----------------------------------------------------------------------

  private async process(item: WorkItem): Promise<void> {
    const { event } = item;
    if (event === undefined) {
      this.destinationDone(item);
      await this.deadLetter(item, 'invalid', item.invalidReason ?? 'not a flowyard record', 0);
      return;
    }
    // Unordered duplicates of one event may run side by side: the second waits for the first.
    for (let running = this.inProgress.get(event.eventId); running !== undefined; running = this.inProgress.get(event.eventId)) {
      await running.catch(() => undefined);
    }
    const done = this.writeOnce(item, event);
    this.inProgress.set(event.eventId, done);
    try {
      await done;
    } finally {
      this.inProgress.delete(event.eventId);
    }
  }

  private async writeOnce(item: WorkItem, event: EventHeaders): Promise<void> {
    const { dedup, metrics } = this.context;
    const alreadyDone = item.alreadyDone || (await this.retryInfra('checking a done-key', () => dedup.done(this.doneName, [event.eventId]))).has(event.eventId);
    if (alreadyDone) {
      this.destinationDone(item);
      metrics.writes.inc({ ...this.labels, outcome: 'duplicate' });
      metrics.dedupHits.inc({ topology: this.labels.topology, plan: this.labels.plan, stage: this.doneName });
      // The write happened before a crash; the hand-on may not have: repeat it (downstream dedups).
      await this.emit(item, (limits) => this.emitter.succeededWithin(limits, item.record, event, 1, undefined));
      return;
    }
    const payload = await this.decodePayload(item);
    const outcome = await this.executor.write({ event, value: item.record.value, carriedHeaders: item.record.carriedHeaders, payload, logFields: this.logFields(item) });
    this.destinationDone(item);
    if (!outcome.ok) {
      await this.deadLetter(item, outcome.errorClass, outcome.error.message, outcome.attempts);
      return;
    }
    await this.retryInfra('recording a done-key', () => dedup.markDone(this.doneName, event.eventId));
    metrics.writes.inc({ ...this.labels, outcome: 'ok' });
    await this.emit(item, (limits) => this.emitter.succeededWithin(limits, item.record, event, outcome.attempts, outcome.traceparent));
  }

  /**
   * The record is done with the destination: its concurrency slot goes to the next record
   * (another key's) while its done-key and hand-on are written. Holding the slot through those
   * round trips kept a 20 ms HTTP destination at ~20 of 64 requests open (bench/README figure 9).
   */
  private destinationDone(item: WorkItem): void {
    this.scheduler.release(item);
    this.pump();
  }

  private async decodePayload(item: WorkItem): Promise<unknown> {
    const decoded = await this.retryInfra('decoding the payload', () => this.decoder.decode(item.record.value));
    return decoded.ok ? decoded.payload : undefined;
  }

  private onCircuit(state: 'closed' | 'open' | 'half-open'): void {
    const { metrics, logger } = this.context;
    metrics.circuitState.set(this.labels, CIRCUIT_STATE_VALUE[state]);
    logger.warn({ destination: this.destination.name, circuit: state }, `circuit ${state}`);
    if (state === 'open' && !this.circuitPaused) {
      this.circuitPaused = true;
      this.consumer?.pause(this.assigned);
    } else if (state === 'closed' && this.circuitPaused) {
      this.circuitPaused = false;
      this.resumeDrained(true);
    }
    this.updatePausedGauge();
  }

  // ---- outputs -------------------------------------------------------------------------

  private async deadLetter(item: WorkItem, failureClass: DeadLetterClass, error: string, attempts: number): Promise<void> {
    await this.emit(item, (limits) => this.emitter.deadLetteredWithin(limits, item.record, item.event, failureClass, error, attempts));
    this.context.metrics.writes.inc({ ...this.labels, outcome: 'dead_letter' });
  }

  /**
   * Produces what a decided event emits, retried until it succeeds. Once the broker refused a
   * record as too large (MESSAGE_TOO_LARGE: retrying the same record never succeeds), the
   * topics' limits are read and the records rebuilt to fit them (see StepEmitter), so the
   * event is dead-lettered for the step it cannot reach and its key and partition go on.
   */
  private async emit(item: WorkItem, build: (limits: TopicLimits | undefined) => FittedEmission): Promise<void> {
    let limits: TopicLimits | undefined;
    const emission = await this.retryInfra('producing hand-on/completion/dead-letter records', async () => {
      const fitted = build(limits);
      try {
        await this.output!.send(fitted.records);
      } catch (error) {
        if (this.context.kafka.classify(error) === 'too-large') limits = this.limits = await this.limits.refreshed(this.context.kafka, this.writtenTopics, (err) => this.warnLimits(err));
        throw error;
      }
      return fitted;
    });
    this.countEmission(item, emission);
  }

  private countEmission(item: WorkItem, emission: FittedEmission): void {
    const { metrics, logger } = this.context;
    const { topology, plan } = this.labels;
    for (const [errorClass, n] of emission.deadLetters) metrics.dlqRecords.inc({ topology, plan, destination: this.labels.destination, class: errorClass }, n);
    for (const oversized of emission.oversized) {
      const { destination, topic, bytes, limit, outcome } = oversized;
      metrics.oversizedRecords.inc({ topology, plan, destination, topic, outcome });
      // A hand-on's dead letter is the next step's: counted under its name, like its fy-destination.
      if (outcome === 'dead_letter') metrics.dlqRecords.inc({ topology, plan, destination, class: 'oversized' });
      logger.warn(
        { ...this.logFields(item), plan: item.event?.plan, destination, from: this.destination.name, topic, bytes, maxMessageBytes: limit, outcome },
        outcome === 'dead_letter'
          ? `hand-on too large for topic ${topic}; the event is dead-lettered oversized for destination ${destination}`
          : `completion too large for topic ${topic}; sent without the event's value`,
      );
    }
  }

  private warnLimits(error: unknown): void {
    this.context.logger.warn({ err: error, destination: this.destination.name, topics: this.writtenTopics }, 'reading max.message.bytes of the output topics failed; measuring against the last known limits');
  }

  /** Infrastructure steps (Redis, Kafka) are retried until they succeed: giving up would lose the event. */
  private retryInfra<T>(what: string, step: () => Promise<T>): Promise<T> {
    // A record in flight when the stop came finishes what it started with one try of each
    // remaining step (its write may already have happened: without its done-key and
    // completion the next owner would write it again); only the waits between tries go.
    if (this.stopping.signal.aborted) {
      return step().catch((error: unknown) => {
        this.context.logger.warn({ err: error, destination: this.destination.name }, `${what} failed while stopping; the record is left to the next owner`);
        throw new AbandonedError();
      });
    }
    return retryForever(step, {
      signal: this.stopping.signal,
      backoff: INFRA_BACKOFF,
      onRetry: (error, attempt, waitMs) => this.context.logger.warn({ err: error, destination: this.destination.name, attempt, waitMs }, `${what} failed; retrying`),
    });
  }

  // ---- backpressure -------------------------------------------------------------------

  private pauseForBackpressure(partitions: readonly number[]): void {
    const fresh = partitions.filter((p) => !this.pausedForBackpressure.has(p));
    if (fresh.length === 0) return;
    for (const p of fresh) this.pausedForBackpressure.add(p);
    this.consumer?.pause([{ topic: this.inputTopic, partitions: fresh }]);
    this.updatePausedGauge();
  }

  private resumeDrained(all = false): void {
    if (this.circuitPaused) return;
    const resumable = all
      ? this.assignedPartitions().filter((p) => !this.pausedForBackpressure.has(p) || this.scheduler.shouldResume(p))
      : [...this.pausedForBackpressure].filter((p) => this.scheduler.shouldResume(p));
    if (resumable.length === 0) return;
    for (const p of resumable) this.pausedForBackpressure.delete(p);
    this.consumer?.resume([{ topic: this.inputTopic, partitions: resumable }]);
    this.updatePausedGauge();
  }

  private updatePausedGauge(): void {
    const paused = this.circuitPaused ? this.assignedPartitions().length : this.pausedForBackpressure.size;
    this.context.metrics.pausedPartitions.set({ topology: this.labels.topology, plan: this.labels.plan, group: this.group }, paused);
  }

  private logFields(item: WorkItem): Record<string, unknown> {
    return {
      destination: this.destination.name,
      eventId: item.event?.eventId,
      key: item.event?.key,
      seq: item.event?.seq,
      origin: `${item.record.topic}/${item.record.partition}/${item.record.offset}`,
    };
  }
}
