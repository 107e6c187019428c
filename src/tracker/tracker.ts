/**
 * The tracker role (docs/architecture.md §6): reads `<name>.completions`, keeps each event's state in
 * Redis, releases dag join nodes once all their parents wrote ok, emits the event's verdict
 * (`completed` / `failed`) for the sequencer, and, once an event failed somewhere, emits a
 * compensation for every destination that succeeded and declares `compensate`, newest first
 * (src/tracker/decide.ts has the rules).
 *
 * Per batch: record the outcomes (Redis) -> decide per event -> produce releases,
 * compensations and verdicts -> mark them emitted (Redis) -> commit. A crash anywhere re-reads
 * the batch; decisions repeat only what was not marked, and every receiver dedups by event id
 * (workers by done-key, the sequencer by seq), so nothing is lost and no side effect doubles.
 */
import type { Producer } from 'kafkajs';
import { BatchConsumer, type BatchControls } from '../kafka/consumer.js';
import { CoalescingProducer } from '../kafka/coalescing-producer.js';
import { createProducer } from '../kafka/producer.js';
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { completionKindOf, completionsRecord, eventHeadersOf, parseCompletionsRecord, type Completion } from '../runtime/completion.js';
import { planLabels, type RoleContext } from '../runtime/context.js';
import { toHeaders } from '../runtime/headers.js';
import { RoleLifecycle, type Role } from '../runtime/role.js';
import { retryBatch } from '../runtime/retry-batch.js';
import { InFlightKeys, type KeyedEvent } from '../dedup/in-flight.js';
import type { Plan } from '../topology/plan.js';
import { decide } from './decide.js';
import { TrackerStateStore, type Emitted, type TrackedEvent } from './state-store.js';

export class Tracker implements Role {
  readonly name = 'tracker';
  private readonly lifecycle = new RoleLifecycle('tracker');
  private readonly stopping = new AbortController();
  private readonly store: TrackerStateStore;
  private readonly inFlight: InFlightKeys;
  /** Every plan whose events may still report, by id: the current one, its rollout plan, plans being drained. */
  private readonly known: ReadonlyMap<string, KnownPlan>;
  private consumer: BatchConsumer | undefined;
  private producer: Producer | undefined;
  private output: CoalescingProducer | undefined;

  constructor(
    private readonly context: RoleContext,
    plans: readonly Plan[] = [],
  ) {
    const { plan, redis } = context;
    this.store = new TrackerStateStore(redis, plan.name, plan.dedup.ttlSeconds);
    this.inFlight = new InFlightKeys(redis, plan.name, plan.dedup.ttlSeconds);
    const all = [plan, ...(plan.rollout ? [plan.rollout.plan] : []), ...plans];
    // Metrics carry the plan the event was routed in, so a rollout's two shapes compare side by side.
    this.known = new Map(all.map((p) => [p.id, { plan: p, labels: planLabels(p), destinations: new Set(p.destinations.map((d) => d.name)) }]));
  }

  /** The plan an event was routed in; an unknown id (a plan from before this process started) is judged by the current plan. */
  private planOf(id: string): KnownPlan {
    return this.known.get(id) ?? this.known.get(this.context.plan.id)!;
  }

  async start(): Promise<void> {
    const { plan, kafka, logger } = this.context;
    this.lifecycle.to('starting');
    this.producer = await createProducer(kafka);
    this.output = new CoalescingProducer(this.producer);
    this.consumer = new BatchConsumer({
      kafka,
      logger,
      groupId: plan.groups.tracker,
      topics: [plan.completionsTopic],
      commitMode: 'after-batch',
      handleBatch: (records, controls) => this.handleBatch(records, controls),
    });
    await this.consumer.start();
    this.lifecycle.to('running');
    logger.info({ role: this.name, input: plan.completionsTopic }, 'tracker running');
  }

  async stop(): Promise<void> {
    if (!this.lifecycle.beginStop()) return;
    this.stopping.abort();
    this.consumer?.stopFetching();
    await this.consumer?.disconnect(); // waits for the batch in hand; an abandoned batch is not committed
    await this.producer?.disconnect();
    this.lifecycle.to('stopped');
  }

  /** Retries the whole batch until it is processed: nothing is committed before it is. */
  private handleBatch(records: readonly ConsumedRecord[], controls: BatchControls): Promise<void> {
    return retryBatch(() => this.track(records), {
      signal: this.stopping.signal,
      heartbeat: () => controls.heartbeat(),
      onFailure: (error, attempt, waitMs) =>
        this.context.logger.warn({ err: error, partition: records[0]?.partition, attempt, waitMs }, 'tracking a batch of completions failed; retrying it'),
    });
  }

  private async track(records: readonly ConsumedRecord[]): Promise<void> {
    const { logger, metrics } = this.context;
    const completions: Completion[] = [];
    for (const record of records) {
      const kind = completionKindOf(record);
      // Verdicts are this role's own output on the same topic (the sequencer reads them), and a
      // kind this flowyard does not know is not for it either: skipped by the header alone.
      if (kind === 'event' || kind === 'unknown') continue;
      const parsed = parseCompletionsRecord(record);
      if (parsed?.kind === 'event') continue;
      if (parsed === undefined || !this.planOf(parsed.plan).destinations.has(parsed.destination)) {
        logger.warn({ origin: `${record.topic}/${record.partition}/${record.offset}`, destination: parsed?.destination }, 'completions record not of this plan; ignored');
        continue;
      }
      completions.push(parsed);
    }
    if (completions.length === 0) return;

    const states = await this.store.apply(completions);
    /** The latest report per event: it carries the value and headers the emissions reuse. */
    const latest = new Map<string, Completion>();
    for (const completion of completions) {
      latest.delete(completion.eventId);
      latest.set(completion.eventId, completion);
    }
    const output = new Map<string, OutgoingRecord[]>();
    const emit = (topic: string, record: OutgoingRecord) => {
      const list = output.get(topic);
      if (list === undefined) output.set(topic, [record]);
      else list.push(record);
    };
    const emitted = new Map<string, Emitted>();
    const decided: (KeyedEvent & { plan: string })[] = [];
    const observe: (() => void)[] = [];

    // In the order of each event's last report: a key's joins are released in the order its
    // parents finished, which is the key's source order (each parent writes a key in order).
    for (const [eventId, report] of latest) {
      const state = states.get(eventId)!;
      const known = this.planOf(report.plan);
      const decision = decide(known.plan, state);
      const { joinTopics, compensationTopics } = known.plan.slices.tracker;
      const copy: OutgoingRecord = { key: report.key, value: report.value, headers: toHeaders(eventHeadersOf(report), 1) };
      const fields = { eventId, key: report.key, seq: report.seq, eventPlan: report.plan };
      for (const name of decision.release) {
        emit(joinTopics[name]!, copy);
        logger.debug({ ...fields, destination: name }, 'join released');
      }
      for (const name of decision.compensate) {
        emit(compensationTopics[name]!, copy);
        logger.info({ ...fields, destination: name }, 'compensating a destination that succeeded for an event that failed elsewhere');
      }
      if (decision.outcome !== undefined) {
        const failed = [...state.writes].filter(([, status]) => status === 'failed').map(([name]) => name);
        const at = Date.now();
        emit(
          this.context.plan.completionsTopic,
          completionsRecord({ ...base(report), kind: 'event', status: decision.outcome, failed, at }),
        );
        decided.push({ plan: report.plan, key: report.key, eventId });
        if (decision.outcome === 'failed') {
          // The cause of the write that decided it; each failed write's own is on its dead letter.
          const cause = report.status === 'failed' ? report.error : undefined;
          logger.warn({ ...fields, failed, ...(cause !== undefined && { cause }) }, 'event failed: a destination failed for good');
        }
        else observe.push(() => this.observeCompleted(report, state, at));
      }
      if (decision.release.length + decision.compensate.length > 0 || decision.outcome !== undefined) {
        emitted.set(eventId, { released: decision.release, compensating: decision.compensate, ...(decision.outcome && { outcome: decision.outcome }) });
      }
    }
    for (const completion of completions) {
      if (completion.kind === 'compensation') metrics.compensations.inc({ ...this.planOf(completion.plan).labels, destination: completion.destination, outcome: completion.status });
    }

    if (output.size > 0) await this.output!.send(output);
    await this.store.markEmitted(emitted);
    // A decided event no longer holds its key in its plan (a live switch or rollout may move the key).
    for (const plan of new Set(decided.map((d) => d.plan))) await this.inFlight.settle(plan, decided.filter((d) => d.plan === plan));
    for (const record of observe) record();
  }

  private observeCompleted(report: Completion, state: TrackedEvent, at: number): void {
    const { metrics } = this.context;
    const { labels } = this.planOf(report.plan);
    metrics.endToEndLatency.observe(labels, Math.max(0, at - report.ingestedAt) / 1000);
    const times = [...state.reportedAt.values()];
    if (times.length > 1) metrics.branchSpread.observe(labels, (Math.max(...times) - Math.min(...times)) / 1000);
  }
}

/** The fields every completions record shares, taken from a destination's report. */
function base(report: Completion) {
  const { eventId, key, seq, plan, ingestedAt, value, origin, traceparent } = report;
  return { eventId, key, seq, plan, ingestedAt, value, origin, ...(traceparent !== undefined && { traceparent }) };
}

interface KnownPlan {
  readonly plan: Plan;
  readonly labels: ReturnType<typeof planLabels>;
  /** Names of the plan's destinations: a report naming another is not understood. */
  readonly destinations: ReadonlySet<string>;
}
