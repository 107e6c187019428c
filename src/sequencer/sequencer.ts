/**
 * The sequencer role (docs/architecture.md §6): reads the tracker's verdicts (`kind: 'event'` records) on
 * `<name>.completions` and writes each completed event, per causal group in seq order, to
 * `ordering.sequencer.output` (the original value, keyed by the causal key, flowyard headers).
 * A `failed` verdict closes its gap at once; a gap still open after `holdMs` is skipped
 * (counted, logged); an event arriving after its gap was skipped is dead-lettered as `late`.
 *
 * Every change goes through one serial queue of steps (a consumed batch, a timer tick): the
 * buffer (src/sequencer/buffer.ts) decides, then one flush makes the step durable:
 *
 *   1. the changed groups' snapshots -> Redis under a fresh flush token (src/sequencer/store.ts)
 *   2. one Kafka transaction: outputs, dead letters, and the input offsets (metadata = token)
 *   3. the token is marked committed in Redis
 *
 * Offsets are committed up to the lowest offset whose event (or failure) the buffer still
 * holds per partition (src/sequencer/progress.ts), so a restart re-reads every held event;
 * what it re-reads that was already emitted has a seq below the restored next expected one and
 * is dropped as a duplicate. Why a crash between any two of the steps neither loses nor
 * repeats output is written in store.ts. Limits: a `late` record re-read after a crash is
 * dead-lettered again (the DLQ may hold it twice; the output never does); and, as for the
 * router, kafkajs cannot fence a previous owner of a partition (KIP-447), so a member that
 * lost its partitions in a rebalance and still finishes a flush may duplicate that flush.
 */
import { randomBytes } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { BatchConsumer, type TopicPartitions } from '../kafka/consumer.js';
import { chunkByBytes, createProducer, type Producer } from '../kafka/producer.js';
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { ExponentialBackoff } from '../resilience/backoff.js';
import { eventHeadersOf, originalValue, parseCompletionsRecord, type EventOutcome } from '../runtime/completion.js';
import { planLabels, type RoleContext } from '../runtime/context.js';
import { deadLetterRecord } from '../runtime/dead-letter.js';
import { toHeaders } from '../runtime/headers.js';
import { RoleLifecycle, type Role } from '../runtime/role.js';
import { AbandonedError, sleep } from '../runtime/sleep.js';
import { SequencerBuffer, type Emitted, type GroupSnapshot, type SkippedGap } from './buffer.js';
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

interface Held {
  readonly outcome: EventOutcome;
  readonly record: ConsumedRecord;
}

interface PartitionState {
  readonly buffer: SequencerBuffer<Held>;
  readonly progress: PartitionProgress;
  /** The committed offsets' flush token was marked: groups of this partition may be read from Redis. */
  repaired: Promise<void> | undefined;
}

/** What one step changed, made durable by one flush. */
interface Pending {
  readonly outputs: OutgoingRecord[];
  readonly deadLetters: OutgoingRecord[];
  /** Snapshot of every group whose next expected seq moved. */
  readonly snapshots: Map<string, GroupSnapshot>;
  /** Partitions whose groups or offsets changed. */
  readonly partitions: Set<number>;
  gaps: number;
  late: number;
}

export class Sequencer implements Role {
  readonly name = 'sequencer';
  private readonly lifecycle = new RoleLifecycle('sequencer');
  private readonly stopping = new AbortController();
  private readonly store: SequencerStore;
  private readonly labels: { topology: string; plan: string };
  private readonly options: Required<SequencerOptions>;
  private readonly holdMs: number;
  private readonly output: string;
  private readonly input: string;
  private readonly groupId: string;
  private readonly partitions = new Map<number, PartitionState>();
  private readonly paused = new Set<number>();
  /** Flush tokens: `<random per process>.<counter>`, never reused, so an aborted flush's token never gets marked. */
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenCounter = 0;
  private serial: Promise<void> = Promise.resolve();
  private tickQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private consumer: BatchConsumer | undefined;
  private producer: Producer | undefined;
  private admin: Admin | undefined;

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
  }

  async start(): Promise<void> {
    const { kafka, logger } = this.context;
    this.lifecycle.to('starting');
    // A fresh transactional id per process, like the router's (no KIP-447 in kafkajs).
    this.producer = await createProducer(kafka, { transactionalId: `${this.groupId}-${this.tokenPrefix}` });
    this.admin = kafka.admin();
    await this.admin.connect();
    this.consumer = new BatchConsumer({
      kafka,
      logger,
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
    await this.producer?.disconnect();
    await this.admin?.disconnect();
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

  /**
   * Marks the flush token in the partition's committed offset metadata as committed, before
   * any group of the partition is read: the process that committed it may have died before
   * marking it (store.ts).
   */
  private async repair(partition: number, state: PartitionState): Promise<void> {
    state.repaired ??= this.retry('reading the committed flush token', async () => {
      const offsets = await this.admin!.fetchOffsets({ groupId: this.groupId, topics: [this.input] });
      const metadata = offsets.find((o) => o.topic === this.input)?.partitions.find((p) => p.partition === partition)?.metadata;
      if (metadata) await this.store.markCommitted([metadata]);
    });
    try {
      await state.repaired;
    } catch (error) {
      state.repaired = undefined;
      throw error;
    }
  }

  // ---- steps ---------------------------------------------------------------------------

  private async onBatch(records: readonly ConsumedRecord[]): Promise<void> {
    if (records.length === 0 || this.stopping.signal.aborted) return;
    const partitionNo = records[0]!.partition;
    const state = this.partition(partitionNo);
    await this.repair(partitionNo, state);
    const outcomes: { record: ConsumedRecord; outcome: EventOutcome }[] = [];
    for (const record of records) {
      const parsed = parseCompletionsRecord(record.value);
      if (parsed?.kind === 'event') outcomes.push({ record, outcome: parsed });
      else if (parsed === undefined) {
        this.context.logger.warn({ origin: origin(record) }, 'completions record not understood; ignored');
      }
      // Destination and compensation reports are the tracker's; only verdicts matter here.
    }

    const pending = newPending();
    pending.partitions.add(partitionNo);
    // Groups this batch touches, with their newest known state: an idle group may be evicted
    // from the buffer mid-batch and must then come back from here, not from Redis.
    const latest = new Map<string, GroupSnapshot>();
    const unknown = new Set<string>();
    for (const { outcome } of outcomes) {
      if (latest.has(outcome.key) || unknown.has(outcome.key)) continue;
      const snapshot = state.buffer.snapshot(outcome.key);
      if (snapshot === undefined) unknown.add(outcome.key);
      else latest.set(outcome.key, snapshot);
    }
    if (unknown.size > 0) {
      const stored = await this.retry('reading sequencer snapshots', () => this.store.read([...unknown]));
      for (const [group, snapshot] of stored) latest.set(group, snapshot);
    }

    const now = Date.now();
    for (const record of records) {
      state.progress.take(record.offset);
    }
    for (const { record, outcome } of outcomes) {
      const group = outcome.key;
      if (!state.buffer.knows(group)) state.buffer.restore(group, latest.get(group)!);
      const before = latest.get(group)!.nextExpected;
      const result = outcome.status === 'completed' ? state.buffer.offer(group, outcome.seq, { outcome, record }, now) : state.buffer.fail(group, outcome.seq, now);
      const fields = logFields(outcome, record);
      switch (result.status) {
        case 'held':
          state.progress.hold(group, BigInt(outcome.seq), record.offset);
          this.context.logger.debug({ ...fields, nextExpected: String(before) }, 'event held for a gap before it');
          break;
        case 'late':
          if (outcome.status === 'completed') {
            pending.deadLetters.push(this.lateLetter(outcome, record, state.buffer.snapshot(group)!));
            pending.late += 1;
            this.context.logger.warn(fields, 'event arrived after its gap was skipped; dead-lettered as late');
          }
          break;
        case 'duplicate':
          this.context.logger.debug(fields, 'event already emitted, failed or held; dropped');
          break;
        case 'in-order':
          if (outcome.status === 'failed') this.context.logger.info(fields, 'failed event closes its gap');
          break;
      }
      this.emit(result.emitted, pending);
      const after = state.buffer.snapshot(group)!;
      latest.set(group, after);
      if (after.nextExpected !== before) this.noteMoved(state, partitionNo, group, after, pending);
    }
    await this.flush(pending);
  }

  private async expire(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const pending = newPending();
    const now = Date.now();
    for (const [partitionNo, state] of this.partitions) {
      if (state.buffer.size === 0) continue;
      const { emitted, skipped } = state.buffer.expire(now);
      for (const gap of skipped) this.logSkipped(gap);
      pending.gaps += skipped.length;
      this.emit(emitted, pending);
      const groups = new Set([...skipped.map((g) => g.group), ...emitted.map((e) => e.group)]);
      for (const group of groups) {
        // Groups that had a gap skipped or emitted hold nothing more below; they are active, so in memory.
        const snapshot = state.buffer.snapshot(group);
        if (snapshot !== undefined) this.noteMoved(state, partitionNo, group, snapshot, pending);
      }
    }
    await this.flush(pending);
  }

  private emit(emitted: readonly Emitted<Held>[], pending: Pending): void {
    for (const { item } of emitted) {
      const { outcome } = item;
      pending.outputs.push({ key: outcome.key, value: originalValue(outcome), headers: toHeaders(eventHeadersOf(outcome), 1) });
      this.context.logger.debug(logFields(outcome, item.record), 'event emitted in order');
    }
  }

  /** `group`'s next expected seq moved: store its snapshot with this step, let go of the offsets it passed. */
  private noteMoved(state: PartitionState, partitionNo: number, group: string, snapshot: GroupSnapshot, pending: Pending): void {
    state.progress.release(group, snapshot.nextExpected);
    pending.snapshots.set(group, snapshot);
    pending.partitions.add(partitionNo);
  }

  private logSkipped(gap: SkippedGap): void {
    const missing = gap.from === gap.to ? String(gap.from) : `${gap.from}-${gap.to}`;
    this.context.logger.warn({ key: gap.group, missingFrom: String(gap.from), missingTo: String(gap.to), holdMs: this.holdMs }, `gap skipped after holdMs: seq ${missing} of the group never came`);
  }

  private lateLetter(outcome: EventOutcome, record: ConsumedRecord, snapshot: GroupSnapshot): OutgoingRecord {
    // The event's own bytes and headers, so a replay puts back the event; fy-origin names the completions record.
    return deadLetterRecord({
      origin: { topic: record.topic, partition: record.partition, offset: record.offset, key: Buffer.from(outcome.key), value: originalValue(outcome), headers: toHeaders(eventHeadersOf(outcome), 1) },
      errorClass: 'late',
      error: `seq ${outcome.seq} of key ${JSON.stringify(outcome.key)} arrived after the sequencer skipped its gap (held longer than holdMs ${this.holdMs} ms; next expected ${snapshot.nextExpected})`,
      destination: 'sequencer',
      attempts: 1,
    });
  }

  // ---- flush ---------------------------------------------------------------------------

  /** Makes one step durable (see the file comment), retrying the same flush until it succeeds. */
  private async flush(pending: Pending): Promise<void> {
    const offsets: { partition: number; position: bigint }[] = [];
    for (const partitionNo of pending.partitions) {
      const state = this.partitions.get(partitionNo);
      const position = state?.progress.commitPosition();
      if (position !== undefined && (state!.progress.pendingCommit() !== undefined || pending.snapshots.size > 0)) offsets.push({ partition: partitionNo, position });
    }
    const records = new Map<string, OutgoingRecord[]>();
    if (pending.outputs.length > 0) records.set(this.output, pending.outputs);
    if (pending.deadLetters.length > 0) records.set(this.context.plan.dlqTopic, pending.deadLetters);
    if (records.size > 0 || pending.snapshots.size > 0 || offsets.length > 0) {
      this.tokenCounter += 1;
      const token = `${this.tokenPrefix}.${this.tokenCounter}`;
      await this.retry('writing sequencer snapshots', () => this.store.write(token, pending.snapshots));
      await this.retry('committing the sequenced output', () => this.transact(records, offsets, token));
      await this.retry('marking a sequencer flush committed', () => this.store.markCommitted([token]));
      for (const { partition, position } of offsets) this.partitions.get(partition)?.progress.markCommitted(position);
    }
    const { metrics } = this.context;
    if (pending.gaps > 0) metrics.sequencerGaps.inc(this.labels, pending.gaps);
    if (pending.late > 0) {
      metrics.sequencerLate.inc(this.labels, pending.late);
      metrics.dlqRecords.inc({ ...this.labels, destination: 'sequencer', class: 'late' }, pending.late);
    }
    this.applyBackpressure();
    this.updateGauges();
  }

  private async transact(records: ReadonlyMap<string, readonly OutgoingRecord[]>, offsets: readonly { partition: number; position: bigint }[], token: string): Promise<void> {
    const transaction = await this.producer!.transaction();
    try {
      for (const topicMessages of chunkByBytes(records)) await transaction.sendBatch({ acks: -1, topicMessages });
      if (offsets.length > 0) {
        await transaction.sendOffsets({
          consumerGroupId: this.groupId,
          topics: [{ topic: this.input, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.position.toString(), metadata: token })) }],
        });
      }
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined); // the original error is what matters; the broker times an unaborted transaction out
      // A fenced or broken transactional producer cannot begin again: start a fresh one.
      await this.producer!.disconnect().catch(() => undefined);
      this.producer = await createProducer(this.context.kafka, { transactionalId: `${this.groupId}-${this.tokenPrefix}-${token}` });
      throw error;
    }
  }

  /** Infrastructure steps are retried until they succeed (giving up would lose events) or the role stops. */
  private async retry<T>(what: string, step: () => Promise<T>): Promise<T> {
    const backoff = new ExponentialBackoff({ ...RETRY_BACKOFF, random: Math.random });
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        if (this.stopping.signal.aborted) throw new AbandonedError();
        const waitMs = backoff.delayMs(Math.min(attempt, 8));
        this.context.logger.warn({ err: error, attempt, waitMs }, `${what} failed; retrying`);
        await sleep(waitMs, this.stopping.signal);
      }
    }
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

function newPending(): Pending {
  return { outputs: [], deadLetters: [], snapshots: new Map(), partitions: new Set(), gaps: 0, late: 0 };
}

function origin(record: ConsumedRecord): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}

function logFields(outcome: EventOutcome, record: ConsumedRecord): Record<string, unknown> {
  return { eventPlan: outcome.plan, key: outcome.key, seq: outcome.seq, eventId: outcome.eventId, status: outcome.status, origin: origin(record) };
}
