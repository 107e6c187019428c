/**
 * The sequencer role (docs/architecture.md §6): reads the tracker's verdicts (`kind: 'event'` records) on
 * `<name>.completions` and writes each completed event, per causal group in seq order, to
 * `ordering.sequencer.output` (the original value, keyed by the causal key, flowyard headers).
 * A `failed` verdict closes its gap at once; a gap still open after `holdMs` is skipped
 * (counted, logged); an event arriving after its gap was skipped is dead-lettered as `late`.
 *
 * Every change goes through one serial queue of steps (a consumed batch, a timer tick): the
 * buffer (buffer.ts) decides (executor.ts), the records it emits are built by emitter.ts,
 * then one flush makes the step durable (commit.ts):
 *
 *   1. the changed groups' snapshots -> Redis under a fresh flush token (store.ts)
 *   2. one Kafka transaction: outputs, dead letters, and the input offsets (metadata = token)
 *   3. the token is marked committed in Redis
 *
 * Offsets are committed up to the lowest offset whose event (or failure) the buffer still
 * holds per partition (progress.ts), so a restart re-reads every held event;
 * what it re-reads that was already emitted has a seq below the restored next expected one and
 * is dropped as a duplicate. Why a crash between any two of the steps neither loses nor
 * repeats output is written in store.ts. Limits: a `late` record re-read after a crash is
 * dead-lettered again (the DLQ may hold it twice; the output never does); and, as for the
 * router, kafkajs cannot fence a previous owner of a partition (KIP-447), so a member that
 * lost its partitions in a rebalance and still finishes a flush may duplicate that flush.
 *
 * This file is the role: lifecycle, the serial queue, assignments and backpressure.
 */
import type { GroupConsumer, TopicPartitions } from '../kafka/port.js';
import type { ConsumedRecord } from '../kafka/records.js';
import { AbandonedError } from '../resilience/abort.js';
import { retryForever } from '../resilience/retry.js';
import { planLabels, type RoleContext } from '../runtime/context.js';
import { RoleLifecycle, type Role } from '../runtime/role.js';
import { SequencerBuffer } from './buffer.js';
import { SequencerCommitter } from './commit.js';
import type { Pending } from './emitter.js';
import { SequencerSteps, type Held, type PartitionState } from './executor.js';
import { PartitionProgress } from './progress.js';
import { SequencerStore } from './store.js';

export interface SequencerOptions {
  /** Events (and failures) held per causal group before its partition pauses. */
  readonly maxPerGroup?: number;
  /** Events (and failures) held in all before every partition pauses. */
  readonly maxBuffered?: number;
  /** Idle groups whose state stays in memory per partition; beyond it they are read from Redis again. */
  readonly maxIdleGroups?: number;
  /** How often waiting events are checked against `holdMs`; default a quarter of it, 50 ms to 1 s. */
  readonly tickMs?: number;
}

const DEFAULTS = { maxPerGroup: 1_000, maxBuffered: 10_000, maxIdleGroups: 10_000 } as const;
/** Waits between tries of a flush that failed (Redis or Kafka down); the same flush is retried. */
const RETRY_BACKOFF = { initialDelayMs: 100, maxDelayMs: 5_000 } as const;

export class Sequencer implements Role {
  readonly name = 'sequencer';
  private readonly lifecycle = new RoleLifecycle('sequencer');
  private readonly stopping = new AbortController();
  private readonly store: SequencerStore;
  private readonly steps: SequencerSteps;
  private readonly committer: SequencerCommitter;
  private readonly labels: { topology: string; plan: string };
  private readonly options: Required<SequencerOptions>;
  private readonly holdMs: number;
  private readonly output: string;
  private readonly input: string;
  private readonly groupId: string;
  private readonly partitions = new Map<number, PartitionState>();
  private readonly paused = new Set<number>();
  private serial: Promise<void> = Promise.resolve();
  private tickQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private consumer: GroupConsumer | undefined;

  constructor(
    private readonly context: RoleContext,
    options: SequencerOptions = {},
  ) {
    const { plan, redis } = context;
    if (plan.sequencer === undefined) throw new Error(`topology ${plan.name} has no ordering.sequencer; the sequencer role has nothing to do`);
    this.holdMs = plan.sequencer.holdMs;
    this.output = plan.sequencer.output;
    this.input = plan.completionsTopic;
    this.groupId = plan.groups.sequencer;
    this.store = new SequencerStore(redis, plan.name, plan.dedup.ttlSeconds);
    this.labels = planLabels(plan);
    this.options = {
      maxPerGroup: options.maxPerGroup ?? DEFAULTS.maxPerGroup,
      maxBuffered: options.maxBuffered ?? DEFAULTS.maxBuffered,
      maxIdleGroups: options.maxIdleGroups ?? DEFAULTS.maxIdleGroups,
      tickMs: options.tickMs ?? Math.min(1_000, Math.max(50, Math.floor(this.holdMs / 4))),
    };
    const retry = <T>(what: string, step: () => Promise<T>) => this.retry(what, step);
    this.steps = new SequencerSteps({ holdMs: this.holdMs, logger: context.logger, readStored: (groups) => retry('reading sequencer snapshots', () => this.store.read(groups)) });
    this.committer = new SequencerCommitter({
      kafka: context.kafka,
      store: this.store,
      groupId: this.groupId,
      consumer: () => {
        if (this.consumer === undefined) throw new Error('the sequencer flushed before its consumer started');
        return this.consumer;
      },
      input: this.input,
      output: this.output,
      dlqTopic: plan.dlqTopic,
      retry,
      logger: context.logger,
    });
  }

  async start(): Promise<void> {
    const { kafka, logger } = this.context;
    this.lifecycle.to('starting');
    await this.committer.start();
    this.consumer = kafka.groupConsumer({
      groupId: this.groupId,
      topics: [this.input],
      commitMode: 'manual',
      handleBatch: (records) => this.enqueue(() => this.onBatch(records)),
      onAssignment: (assignment) => void this.enqueue(async () => this.onAssignment(assignment)).catch(() => undefined),
    });
    await this.consumer.start();
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.lifecycle.to('running');
    logger.info({ role: this.name, input: this.input, output: this.output, holdMs: this.holdMs }, 'sequencer running');
  }

  /** Graceful: stop fetching, let the step in hand flush, disconnect. Held events are re-read by the next owner. */
  async stop(): Promise<void> {
    if (this.lifecycle.state === 'stopped') return;
    this.lifecycle.to('draining');
    clearInterval(this.timer);
    this.consumer?.stopFetching();
    this.stopping.abort();
    await this.serial.catch(() => undefined);
    await this.consumer?.disconnect();
    await this.committer.stop();
    this.context.metrics.sequencerBuffered.set(this.labels, 0);
    this.lifecycle.to('stopped');
  }

  /** Runs `step` after every step queued before it; its failure is its caller's only. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.serial.then(step);
    this.serial = run.catch(() => undefined);
    return run;
  }

  private tick(): void {
    if (this.tickQueued || this.stopping.signal.aborted) return;
    this.tickQueued = true;
    void this.enqueue(async () => {
      this.tickQueued = false;
      await this.expire();
    }).catch((error: unknown) => {
      if (!(error instanceof AbandonedError)) this.context.logger.error({ err: error }, 'sequencer expiry step failed; the next tick tries again');
    });
  }

  // ---- assignment ----------------------------------------------------------------------

  /** Forgets revoked partitions (their next owner re-reads what they held); new ones start empty. */
  private onAssignment(assignment: readonly TopicPartitions[]): void {
    const mine = new Set(assignment.find((a) => a.topic === this.input)?.partitions ?? []);
    for (const partition of [...this.partitions.keys()]) {
      if (!mine.has(partition)) {
        this.partitions.delete(partition);
        this.paused.delete(partition);
      }
    }
    this.updateGauges();
  }

  private partition(partition: number): PartitionState {
    let state = this.partitions.get(partition);
    if (state === undefined) {
      state = {
        buffer: new SequencerBuffer<Held>({
          holdMs: this.holdMs,
          maxPerGroup: this.options.maxPerGroup,
          // The process-wide bound is checked across partitions in `applyBackpressure`.
          maxBuffered: this.options.maxBuffered,
          maxIdleGroups: this.options.maxIdleGroups,
        }),
        progress: new PartitionProgress(),
        repaired: undefined,
      };
      this.partitions.set(partition, state);
    }
    return state;
  }

  // ---- steps ---------------------------------------------------------------------------

  private async onBatch(records: readonly ConsumedRecord[]): Promise<void> {
    if (records.length === 0 || this.stopping.signal.aborted) return;
    const partitionNo = records[0]!.partition;
    const state = this.partition(partitionNo);
    await this.committer.repair(partitionNo, state);
    await this.flush(await this.steps.batch(partitionNo, state, records));
  }

  private async expire(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    await this.flush(this.steps.expire(this.partitions, Date.now()));
  }

  private async flush(pending: Pending): Promise<void> {
    const tooLarge = await this.committer.flush(pending, this.partitions);
    const { metrics } = this.context;
    if (pending.valueOmitted > 0) this.countOversized(this.input, pending.valueOmitted);
    if (tooLarge > 0) this.countOversized(this.output, tooLarge);
    if (pending.gaps > 0) metrics.sequencerGaps.inc(this.labels, pending.gaps);
    if (pending.late > 0) {
      metrics.sequencerLate.inc(this.labels, pending.late);
      metrics.dlqRecords.inc({ ...this.labels, destination: 'sequencer', class: 'late' }, pending.late);
    }
    this.applyBackpressure();
    this.updateGauges();
  }

  /** Outputs dead-lettered `oversized`: `topic` is the one that could not take the value (completions, when the verdict came without it). */
  private countOversized(topic: string, n: number): void {
    const { metrics } = this.context;
    metrics.oversizedRecords.inc({ ...this.labels, destination: 'sequencer', topic, outcome: 'dead_letter' }, n);
    metrics.dlqRecords.inc({ ...this.labels, destination: 'sequencer', class: 'oversized' }, n);
  }

  /** Infrastructure steps are retried until they succeed (giving up would lose events) or the role stops. */
  private retry<T>(what: string, step: () => Promise<T>): Promise<T> {
    return retryForever(step, {
      signal: this.stopping.signal,
      backoff: RETRY_BACKOFF,
      onRetry: (error, attempt, waitMs) => this.context.logger.warn({ err: error, attempt, waitMs }, `${what} failed; retrying`),
    });
  }

  // ---- backpressure --------------------------------------------------------------------

  /** Pauses a partition with a full group, every partition when the process bound is reached; resumes when drained. */
  private applyBackpressure(): void {
    if (this.consumer === undefined || this.stopping.signal.aborted) return;
    const total = this.heldTotal();
    const full = new Set<number>();
    for (const [partitionNo, state] of this.partitions) {
      if (total >= this.options.maxBuffered) full.add(partitionNo);
      else for (const group of state.progress.heldGroups()) if (state.buffer.isFull(group)) full.add(partitionNo);
    }
    const pause = [...full].filter((p) => !this.paused.has(p));
    const resume = [...this.paused].filter((p) => !full.has(p));
    if (pause.length > 0) {
      this.consumer.pause([{ topic: this.input, partitions: pause }]);
      this.context.logger.info({ partitions: pause, held: total }, 'sequencer buffer full; consumption paused');
    }
    if (resume.length > 0) this.consumer.resume([{ topic: this.input, partitions: resume }]);
    for (const p of pause) this.paused.add(p);
    for (const p of resume) this.paused.delete(p);
    this.context.metrics.pausedPartitions.set({ ...this.labels, group: this.groupId }, this.paused.size);
  }

  private heldTotal(): number {
    let total = 0;
    for (const state of this.partitions.values()) total += state.buffer.size;
    return total;
  }

  private updateGauges(): void {
    this.context.metrics.sequencerBuffered.set(this.labels, this.heldTotal());
  }
}
