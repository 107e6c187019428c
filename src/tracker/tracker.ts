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
import { CoalescingProducer } from '../kafka/coalescing-producer.js';
import type { BatchControls, GroupConsumer } from '../kafka/port.js';
import type { ConsumedRecord, OutgoingRecord } from '../kafka/records.js';
import { completionKindOf, completionsRecord, eventHeadersOf, parseCompletionsRecord, withoutValue, type Completion, type CompletionsRecord } from '../runtime/completion.js';
import { planLabels, type RoleContext } from '../runtime/context.js';
import { deadLetterRecord, fitDeadLetter } from '../runtime/dead-letter.js';
import { HEADER, toHeaders } from '../runtime/headers.js';
import { oversizeReason, TopicLimits } from '../runtime/record-size.js';
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
  private consumer: GroupConsumer | undefined;
  private output: CoalescingProducer | undefined;
  private limits = new TopicLimits();

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
    this.output = await CoalescingProducer.create(kafka);
    this.consumer = kafka.groupConsumer({
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
    await this.output?.close();
    this.lifecycle.to('stopped');
  }

  /**
   * Retries the whole batch until it is processed: nothing is committed before it is. A batch
   * whose emissions the broker refused as too large is retried with every emission measured
   * against its topic's max.message.bytes (see `track`).
   */
  private handleBatch(records: readonly ConsumedRecord[], controls: BatchControls): Promise<void> {
    let checkSizes = false;
    return retryBatch(() => this.track(records, checkSizes), {
      signal: this.stopping.signal,
      heartbeat: () => controls.heartbeat(),
      onFailure: (error, attempt, waitMs) => {
        if (this.context.kafka.classify(error) === 'too-large') checkSizes = true;
        this.context.logger.warn(
          { err: error, partition: records[0]?.partition, attempt, waitMs },
          checkSizes ? 'the broker refused an emission as too large; retrying the batch with emissions measured against their topics' : 'tracking a batch of completions failed; retrying it',
        );
      },
    });
  }

  /**
   * `checkSizes`: the broker refused an emission of this batch as too large. Then a release or
   * compensation too large for its topic is dead-lettered `oversized` with a `failed` report in
   * that destination's name (read back by this role, so the event is decided), and a verdict too
   * large goes without the value. A report without the value (`valueOmittedBytes`) cannot be
   * released or compensated at all: the same applies, measured or not.
   */
  private async track(records: readonly ConsumedRecord[], checkSizes = false): Promise<void> {
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
    const limits = checkSizes ? await this.readLimits() : undefined;

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
        if (this.deliverable(report, name, 'destination', joinTopics[name]!, copy, limits, emit)) logger.debug({ ...fields, destination: name }, 'join released');
      }
      for (const name of decision.compensate) {
        if (this.deliverable(report, name, 'compensation', compensationTopics[name]!, copy, limits, emit)) {
          logger.info({ ...fields, destination: name }, 'compensating a destination that succeeded for an event that failed elsewhere');
        }
      }
      if (decision.outcome !== undefined) {
        const failed = [...state.writes].filter(([, status]) => status === 'failed').map(([name]) => name);
        const at = Date.now();
        emit(this.context.plan.completionsTopic, this.fitted(report, limits, { ...base(report), kind: 'event', status: decision.outcome, failed, at }));
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

  /**
   * Emits `copy` to `topic` for destination `name` (a join release, or a compensation when
   * `kind` is `compensation`) and returns true; or, when the event's value is not at hand or the
   * copy does not fit the topic, dead-letters it for that destination with a `failed` report in
   * its name instead (this role reads the report back and decides the event) and returns false.
   */
  private deliverable(
    report: Completion,
    name: string,
    kind: Completion['kind'],
    topic: string,
    copy: OutgoingRecord,
    limits: TopicLimits | undefined,
    emit: (topic: string, record: OutgoingRecord) => void,
  ): boolean {
    const { plan, logger, metrics } = this.context;
    const what = kind === 'compensation' ? `the compensation of destination ${name}` : `the release of join destination ${name}`;
    const omitted = report.valueOmittedBytes;
    const oversize = omitted !== undefined ? undefined : limits?.oversizeOf(topic, copy);
    if (omitted === undefined && oversize === undefined) {
      emit(topic, copy);
      return true;
    }
    const error =
      oversize !== undefined
        ? oversizeReason(what, oversize)
        : `${what} needs the event's value (${omitted} bytes), which was left out of its completions record because it would not fit topic ${plan.completionsTopic}; the whole event is at ${report.origin.topic}/${report.origin.partition}/${report.origin.offset}`;
    // A compensation's letter keeps the class `dlq replay` sends back to the compensation worker.
    const errorClass = kind === 'compensation' ? 'compensation' : 'oversized';
    const { topic: originTopic, partition, offset } = report.origin;
    const letter = deadLetterRecord({
      origin: {
        topic: originTopic,
        partition,
        offset,
        key: Buffer.from(report.key),
        value: report.value ?? Buffer.alloc(0),
        headers: { ...toHeaders(eventHeadersOf(report), 1), ...(omitted !== undefined && { [HEADER.truncated]: String(omitted) }) },
      },
      errorClass,
      error,
      destination: name,
      attempts: 0,
    });
    emit(plan.dlqTopic, limits === undefined ? letter : fitDeadLetter(letter, limits.limitOf(plan.dlqTopic)));
    emit(plan.completionsTopic, this.fitted(report, limits, { ...base(report), kind, destination: name, status: 'failed', attempts: 0, at: Date.now(), error }));
    const labels = this.planOf(report.plan).labels;
    metrics.dlqRecords.inc({ ...labels, destination: name, class: errorClass });
    metrics.oversizedRecords.inc({ ...labels, destination: name, topic, outcome: 'dead_letter' });
    logger.warn(
      { eventId: report.eventId, plan: report.plan, key: report.key, seq: report.seq, destination: name, topic, bytes: oversize?.bytes ?? omitted, maxMessageBytes: oversize?.limit, origin: `${originTopic}/${partition}/${offset}`, reason: error },
      `${what} is too large; dead-lettered ${errorClass} for destination ${name}`,
    );
    return false;
  }

  /** The completions record of `record`, without the event's value when it would not fit the topic. */
  private fitted(report: Completion, limits: TopicLimits | undefined, record: CompletionsRecord): OutgoingRecord {
    const { plan, logger, metrics } = this.context;
    const full = completionsRecord(record);
    const oversize = limits?.oversizeOf(plan.completionsTopic, full);
    if (oversize === undefined) return full;
    const destination = record.kind === 'event' ? 'tracker' : record.destination;
    metrics.oversizedRecords.inc({ ...this.planOf(report.plan).labels, destination, topic: oversize.topic, outcome: 'value_omitted' });
    logger.warn(
      { eventId: report.eventId, plan: report.plan, key: report.key, seq: report.seq, destination, topic: oversize.topic, bytes: oversize.bytes, maxMessageBytes: oversize.limit },
      `completions record too large for topic ${oversize.topic}; sent without the event's value`,
    );
    return completionsRecord(withoutValue(record));
  }

  /** `max.message.bytes` of every topic the tracker writes (any known plan). */
  private async readLimits(): Promise<TopicLimits> {
    const { plan, kafka, logger } = this.context;
    const topics = new Set([plan.completionsTopic, plan.dlqTopic]);
    for (const { plan: known } of this.known.values()) {
      for (const topic of Object.values(known.slices.tracker.joinTopics)) topics.add(topic);
      for (const topic of Object.values(known.slices.tracker.compensationTopics)) topics.add(topic);
    }
    this.limits = await this.limits.refreshed(kafka, [...topics], (error) =>
      logger.warn({ err: error, topics: [...topics] }, 'reading max.message.bytes of the tracker\'s output topics failed; measuring against the last known limits'),
    );
    return this.limits;
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
  const { eventId, key, seq, plan, ingestedAt, value, valueOmittedBytes, origin, traceparent } = report;
  return { eventId, key, seq, plan, ingestedAt, value, ...(valueOmittedBytes !== undefined && { valueOmittedBytes }), origin, ...(traceparent !== undefined && { traceparent }) };
}

interface KnownPlan {
  readonly plan: Plan;
  readonly labels: ReturnType<typeof planLabels>;
  /** Names of the plan's destinations: a report naming another is not understood. */
  readonly destinations: ReadonlySet<string>;
}
