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
 */
import type { Producer } from 'kafkajs';
import { BatchConsumer, type TopicPartitions } from '../kafka/consumer.js';
import { CoalescingProducer } from '../kafka/coalescing-producer.js';
import { createProducer } from '../kafka/producer.js';
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { CIRCUIT_STATE_VALUE } from '../observability/metrics.js';
import { traceWrite } from '../observability/tracing.js';
import { ExponentialBackoff } from '../resilience/backoff.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { TimeoutError } from '../resilience/error-class.js';
import { RetryBudget } from '../resilience/retry-budget.js';
import { RetryPolicy } from '../resilience/retry-policy.js';
import type { EventDecoder } from '../schema/decoder.js';
import { SinkError, type Sink } from '../sinks/sink.js';
import type { PlanDestination } from '../topology/plan.js';
import { completionsRecord } from './completion.js';
import { planLabels, type RoleContext } from './context.js';
import { deadLetterRecord, type DeadLetterClass } from './dead-letter.js';
import { fromHeaders, toHeaders, type EventHeaders } from './headers.js';
import { KeyScheduler, type SchedulableRecord } from './key-scheduler.js';
import { RoleLifecycle, type Role } from './role.js';
import { AbandonedError, sleep } from './sleep.js';
import { waitAtStart } from './start-wait.js';

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
/** How often an exhausted write checks whether its destination is out or only this event fails. */
const DESTINATION_STATE_POLL_MS = 100;
/** Waits between tries of infrastructure steps (Redis, the hand-on produce) that must not lose the event. */
const INFRA_BACKOFF = { initialDelayMs: 100, maxDelayMs: 5_000 } as const;

export class Worker implements Role {
  readonly name: string;
  private readonly lifecycle: RoleLifecycle;
  private readonly scheduler: KeyScheduler<WorkItem>;
  private readonly breaker: CircuitBreaker;
  private readonly policy: RetryPolicy;
  private readonly budget: RetryBudget;
  private readonly infraBackoff = new ExponentialBackoff({ ...INFRA_BACKOFF, random: Math.random });
  private readonly labels: { topology: string; plan: string; destination: string };
  private readonly stopping = new AbortController();
  private readonly nextTopics: readonly string[];
  private consumer: BatchConsumer | undefined;
  private producer: Producer | undefined;
  private output: CoalescingProducer | undefined;
  private assigned: readonly TopicPartitions[] = [];
  private readonly pausedForBackpressure = new Set<number>();
  private circuitPaused = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> = Promise.resolve();
  /** Event ids being written right now, so an unordered duplicate waits instead of writing twice. */
  private readonly inProgress = new Map<string, Promise<void>>();
  private readonly idle: Set<() => void> = new Set();
  /** Traceparent of each item's successful write span: its hand-on continues that trace. */
  private readonly writeTrace = new WeakMap<WorkItem, string>();
  private readonly commitIntervalMs: number;
  private readonly compensating: boolean;
  /** When a write to this destination last succeeded (ms since epoch); 0 before the first. */
  private lastSuccessAt = 0;
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
    if (this.compensating && destination.compensation === undefined) throw new Error(`destination ${destination.name} declares no compensate`);
    this.name = this.compensating ? `compensator:${destination.name}` : `worker:${destination.name}`;
    this.inputTopic = this.compensating ? destination.compensation!.inputTopic : destination.inputTopic;
    this.group = this.compensating ? destination.compensation!.group : destination.group;
    // Destination names hold no '.', so these never collide with another destination's.
    this.doneName = this.compensating ? `${destination.name}.compensate` : destination.name;
    this.lifecycle = new RoleLifecycle(this.name);
    const maxBuffered = options.maxBuffered ?? Math.max(MIN_MAX_BUFFERED, destination.concurrency * DEFAULT_MAX_BUFFERED_PER_CONCURRENCY);
    this.scheduler = new KeyScheduler<WorkItem>({
      ordering: destination.ordering,
      concurrency: destination.concurrency,
      maxBuffered,
      maxBufferedPerPartition: Math.max(1, Math.ceil(maxBuffered / 2)),
    });
    const now = () => Date.now();
    const { retry, circuitBreaker } = destination;
    this.policy = new RetryPolicy({ ...retry, random: Math.random });
    this.budget = new RetryBudget({ ratio: retry.budgetRatio, windowMs: retry.budgetWindowMs, now });
    this.breaker = new CircuitBreaker({ ...circuitBreaker, now, onListenerError: (err) => context.logger.error({ err }, 'circuit listener failed') });
    this.labels = { ...planLabels(context.plan), destination: this.doneName };
    this.nextTopics = this.compensating ? [] : destination.next.map((name) => context.plan.destinations.find((d) => d.name === name)!.inputTopic);
    this.commitIntervalMs = options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
    this.breaker.onStateChange((event) => this.onCircuit(event.state.name));
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
    this.producer = await createProducer(kafka);
    this.output = new CoalescingProducer(this.producer);
    this.consumer = new BatchConsumer({
      kafka,
      logger,
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
    await this.whenIdle();
    clearTimeout(this.commitTimer);
    await this.commit();
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
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
    this.scheduleCommit();
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
    this.scheduleCommit();
  }

  // ---- one record ----------------------------------------------------------------------

  private async process(item: WorkItem): Promise<void> {
    const { event } = item;
    if (event === undefined) {
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
      metrics.writes.inc({ ...this.labels, outcome: 'duplicate' });
      metrics.dedupHits.inc({ topology: this.labels.topology, plan: this.labels.plan, stage: this.doneName });
      // The write happened before a crash; the hand-on may not have: repeat it (downstream dedups).
      await this.handOn(item, event, 1);
      return;
    }
    const attempts = await this.attemptUntilDecided(item, event);
    if (attempts === undefined) return; // dead-lettered
    await this.retryInfra('recording a done-key', () => dedup.markDone(this.doneName, event.eventId));
    metrics.writes.inc({ ...this.labels, outcome: 'ok' });
    await this.handOn(item, event, attempts);
  }

  /** Attempts the write until it succeeds (returns the attempt count) or is dead-lettered (undefined). */
  private async attemptUntilDecided(item: WorkItem, event: EventHeaders): Promise<number | undefined> {
    const { metrics, logger } = this.context;
    const payload = await this.decodePayload(item);
    /** When this event's first failing attempt started. */
    let failingSince: number | undefined;
    for (let attempt = 1; ; attempt += 1) {
      await this.untilCircuitAllows();
      const attemptStartedAt = Date.now();
      if (attempt === 1) this.budget.recordAttempt();
      metrics.destinationCalls.inc(this.labels);
      const timer = metrics.writeDuration.startTimer(this.labels);
      try {
        const span = { destination: this.doneName, plan: event.plan, eventId: event.eventId, attempt, traceparent: event.traceparent };
        const traceparent = await traceWrite(span, (child) =>
          this.writeWithTimeout({ eventId: event.eventId, key: event.key, value: item.record.value ?? Buffer.alloc(0), headers: toHeaders({ ...event, traceparent: child }, attempt), payload }),
        );
        this.writeTrace.set(item, traceparent);
        timer();
        this.breaker.recordSuccess();
        this.lastSuccessAt = Date.now();
        return attempt;
      } catch (error) {
        timer();
        this.breaker.recordFailure(error);
        failingSince ??= attemptStartedAt;
        const decision = this.policy.decide(error, attempt);
        if (decision.action === 'give-up' && decision.reason === 'exhausted') {
          // Nothing written here since this event started failing: maybe the destination is
          // out and the circuit has not seen enough failures yet (an outage's first seconds).
          // Wait, without calling, until a write elsewhere succeeds or the circuit decides.
          if (this.breaker.state.name === 'closed' && this.lastSuccessAt < failingSince) await this.untilDestinationShowsItsState(failingSince);
          if (this.breaker.state.name !== 'closed') {
            // The destination is out, not this event: hold it like every other write until a
            // probe gets through, instead of dead-lettering events for an outage (docs/architecture.md §7, invariant 1).
            logger.info({ err: error, ...this.logFields(item), attempt }, 'attempts exhausted while the destination is out; held until the circuit closes');
            continue;
          }
        }
        if (decision.action === 'give-up') {
          logger.warn({ err: decision.error, ...this.logFields(item), attempt, reason: decision.reason }, 'write failed for good; dead-lettering');
          await this.deadLetter(item, decision.errorClass, decision.error.message, attempt);
          return undefined;
        }
        metrics.writes.inc({ ...this.labels, outcome: 'retried' });
        metrics.retries.inc(this.labels);
        logger.debug({ err: error, ...this.logFields(item), attempt, delayMs: decision.delayMs }, 'write failed; retrying');
        await sleep(decision.delayMs, this.stopping.signal);
        // A refused retry waits another delay without spending an attempt; it is never dropped.
        for (let refused = 1; !this.budget.tryAcquireRetry(); refused += 1) {
          metrics.retryBudgetRefusals.inc(this.labels);
          await sleep(this.infraBackoff.delayMs(Math.min(refused, 6)), this.stopping.signal);
        }
      }
    }
  }

  /** Resolves once a write succeeded after `since`, the circuit left `closed`, or the breaker's window passed. */
  private async untilDestinationShowsItsState(since: number): Promise<void> {
    const deadline = since + this.destination.circuitBreaker.windowMs;
    while (this.lastSuccessAt < since && this.breaker.state.name === 'closed' && Date.now() < deadline) {
      await sleep(DESTINATION_STATE_POLL_MS, this.stopping.signal);
    }
  }

  private async decodePayload(item: WorkItem): Promise<unknown> {
    const decoded = await this.retryInfra('decoding the payload', () => this.decoder.decode(item.record.value));
    return decoded.ok ? decoded.payload : undefined;
  }

  private async writeWithTimeout(record: Parameters<Sink['write']>[0]): Promise<void> {
    const { timeoutMs } = this.destination;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new TimeoutError(timeoutMs);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    });
    try {
      // The race also times out a sink that ignores its signal.
      await Promise.race([this.sink.write(record, controller.signal), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits while the circuit is open (or its one probe is out); holding costs no attempt. */
  private async untilCircuitAllows(): Promise<void> {
    while (!this.breaker.canAttempt()) {
      const state = this.breaker.state;
      const waitMs = state.name === 'open' ? Math.max(10, state.halfOpenAt - Date.now()) : 50;
      await sleep(waitMs, this.stopping.signal);
    }
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

  private async handOn(item: WorkItem, event: EventHeaders, attempts: number): Promise<void> {
    const records = new Map<string, OutgoingRecord[]>();
    const copy: OutgoingRecord = { key: event.key, value: item.record.value, headers: toHeaders({ ...event, traceparent: this.writeTrace.get(item) ?? event.traceparent }, 1) };
    for (const topic of this.nextTopics) records.set(topic, [copy]);
    records.set(this.context.plan.completionsTopic, [this.completion(item, event, 'ok', attempts)]);
    await this.send(records);
  }

  private completion(item: WorkItem, event: EventHeaders, status: 'ok' | 'failed', attempts: number, error?: string): OutgoingRecord {
    const { record } = item;
    return completionsRecord({
      kind: this.compensating ? 'compensation' : 'destination',
      eventId: event.eventId,
      key: event.key,
      seq: event.seq,
      plan: event.plan,
      destination: this.destination.name,
      status,
      attempts,
      ingestedAt: event.ingestedAt,
      at: Date.now(),
      value: record.value === null ? null : record.value.toString('base64'),
      origin: { topic: record.topic, partition: record.partition, offset: record.offset },
      traceparent: event.traceparent,
      ...(error !== undefined && { error }),
    });
  }

  private async deadLetter(item: WorkItem, failureClass: DeadLetterClass, error: string, attempts: number): Promise<void> {
    const { plan, metrics } = this.context;
    // A record that is not a flowyard copy stays `invalid`; everything else a compensation gives up on is `compensation`.
    const errorClass: DeadLetterClass = this.compensating && item.event !== undefined ? 'compensation' : failureClass;
    const records = new Map<string, OutgoingRecord[]>([
      [plan.dlqTopic, [deadLetterRecord({ origin: item.record, errorClass, error, destination: this.destination.name, attempts })]],
    ]);
    if (item.event) records.set(plan.completionsTopic, [this.completion(item, item.event, 'failed', attempts, error)]);
    await this.send(records);
    metrics.writes.inc({ ...this.labels, outcome: 'dead_letter' });
    metrics.dlqRecords.inc({ topology: this.labels.topology, plan: this.labels.plan, destination: this.labels.destination, class: errorClass });
  }

  private async send(byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>): Promise<void> {
    await this.retryInfra('producing hand-on/completion/dead-letter records', () => this.output!.send(byTopic));
  }

  /** Infrastructure steps (Redis, Kafka) are retried until they succeed: giving up would lose the event. */
  private async retryInfra<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        if (this.stopping.signal.aborted) throw new AbandonedError();
        const waitMs = this.infraBackoff.delayMs(Math.min(attempt, 8));
        this.context.logger.warn({ err: error, destination: this.destination.name, attempt, waitMs }, `${what} failed; retrying`);
        await sleep(waitMs, this.stopping.signal);
      }
    }
  }

  // ---- backpressure and commits -------------------------------------------------------

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

  private scheduleCommit(): void {
    if (this.commitTimer !== undefined) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      void this.commit();
    }, this.commitIntervalMs);
  }

  /** Commits up to the lowest unfinished offset per partition; a failed commit is offered again next time. */
  private commit(): Promise<void> {
    this.committing = this.committing.then(async () => {
      const offsets = this.scheduler.committableOffsets();
      if (offsets.length === 0 || this.consumer === undefined) return;
      try {
        await this.consumer.commit(offsets.map((o) => ({ topic: this.inputTopic, ...o })));
        for (const o of offsets) this.scheduler.markCommitted(o.partition, o.offset);
      } catch (error) {
        // After a rebalance the partition may belong to another member; it re-reads from the last commit and done-keys stop double writes.
        this.context.logger.warn({ err: error, destination: this.destination.name, offsets }, 'offset commit failed; will retry');
      }
    });
    return this.committing;
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
