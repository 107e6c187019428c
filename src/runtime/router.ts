/**
 * The router role (docs/architecture.md §6): decode and validate each source event, drop events
 * already routed, assign the per-causal-group seq, and produce one copy per first step of
 * the plan, keyed by the causal key. Copies, dead letters of bad events and the source
 * offsets go in ONE Kafka transaction per batch, so a crash either routes a batch fully or
 * not at all; the Redis `routed` marks follow the commit (see src/dedup/store.ts). Batches of
 * several partitions are handled side by side and share a transaction (TransactionCoalescer).
 */
import { randomUUID } from 'node:crypto';
import { estimateRecordBytes, maxMessageBytes } from '../kafka/message-size.js';
import type { BatchControls, GroupConsumer } from '../kafka/port.js';
import { nextOffset, withCarried, type ConsumedRecord, type OutgoingRecord } from '../kafka/records.js';
import { TransactionCoalescer } from '../kafka/transaction-coalescer.js';
import { AbandonedError } from '../resilience/abort.js';
import { retryForever } from '../resilience/retry.js';
import { DecoderUnavailableError, type EventDecoder } from '../schema/decoder.js';
import { readField } from '../schema/fields.js';
import { InFlightKeys } from '../dedup/in-flight.js';
import type { Plan } from '../topology/plan.js';
import { planLabels, type RoleContext } from './context.js';
import { deadLetterRecord, fitDeadLetter } from './dead-letter.js';
import { HEADER, encodedHeaders, newTraceparents, toHeaders, validTraceparent } from './headers.js';
import { retryBatch } from './retry-batch.js';
import { RoleLifecycle, type Role } from './role.js';
import { choosePlans, routingOf, type Routing } from './routing.js';

interface Routable {
  readonly record: ConsumedRecord;
  readonly eventId: string;
  readonly key: string;
}

/** What a copy's flowyard headers (plan, event id, key, seq, ingest time, traceparent) add at most, besides the key once more. */
const COPY_HEADER_BYTES = 512;
/** Kafka's default `message.max.bytes`, for a topic whose setting could not be read. */
const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * Partitions whose batches the router handles at the same time: every partition a member
 * typically owns, as a Kafka Streams thread does. Their transactions coalesce (at most
 * TRANSACTION_RECORDS each), so a batch waits for the transaction in flight, not for other
 * partitions' turns. With 4 at a time, at 1,000 events/s over 12 partitions, an event waited up
 * to three transaction cycles before the router picked it up: produce -> router ingest p99
 * 1.8-2.0 s against 0.57 s with all 12 (bench/README, "Router partitions at once").
 */
const PARTITIONS_AT_ONCE = 64;
/** Records (copies and dead letters) per transaction at most: a transaction ends, and workers can read it, within one round of batches. */
const TRANSACTION_RECORDS = 10_000;

/** Waits between tries of the step after a batch committed (the routed marks). */
const RETRY_BACKOFF = { initialDelayMs: 200, maxDelayMs: 10_000 } as const;

export class Router implements Role {
  readonly name = 'router';
  private readonly lifecycle = new RoleLifecycle('router');
  private consumer: GroupConsumer | undefined;
  private transactions: TransactionCoalescer | undefined;
  private readonly stopping = new AbortController();
  private readonly labels: { topology: string; plan: string };
  private readonly inFlight: InFlightKeys;
  /** Plans still draining that no key is busy in any more; checked once per batch until then. */
  private readonly drained = new Set<string>();

  constructor(
    private readonly context: RoleContext,
    private readonly decoder: EventDecoder,
    /** Where events go when several plans are live (hot reload, rollout); by default all in the context's plan. */
    private readonly routing: Routing = routingOf(context.plan),
  ) {
    const { plan, redis } = context;
    this.labels = planLabels(plan);
    this.inFlight = new InFlightKeys(redis, plan.name, plan.dedup.ttlSeconds);
  }

  async start(): Promise<void> {
    const { plan, kafka, logger } = this.context;
    this.lifecycle.to('starting');
    // A fresh transactional id per process: atomic copies + offsets. Zombie fencing across
    // restarts would need an id per partition (KIP-447), which kafkajs does not support.
    const transactionalId = `${plan.groups.router}-${randomUUID()}`;
    this.consumer = kafka.groupConsumer({
      groupId: plan.groups.router,
      topics: plan.source.topics,
      commitMode: 'manual',
      partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
      handleBatch: (records, controls) => this.handleBatch(records, controls),
    });
    this.transactions = await TransactionCoalescer.create({
      open: () => kafka.producer({ transactionalId }),
      consumer: this.consumer,
      classify: (error) => kafka.classify(error),
      maxRecords: TRANSACTION_RECORDS,
      onCommit: () => this.context.metrics.routerTransactions.inc(this.labels),
      onCleanupFailed: (error) => logger.warn({ err: error }, 'cleaning up after a failed transaction failed (abort or disconnect); the broker aborts what is left at its timeout'),
    });
    await this.consumer.start();
    this.lifecycle.to('running');
    logger.info({ role: this.name, topics: plan.source.topics, plans: this.routing.plans.map((p) => p.id), firstTopics: plan.slices.router.first.map((f) => f.topic) }, 'router running');
  }

  async stop(): Promise<void> {
    if (!this.lifecycle.beginStop()) return;
    this.stopping.abort();
    this.consumer?.stopFetching();
    await this.consumer?.disconnect(); // waits for the batches in hand, which commit in their transaction or not at all
    await this.transactions?.close();
    this.lifecycle.to('stopped');
  }

  /**
   * Retries the whole batch until it is routed: nothing is committed before it is. A batch the
   * broker refuses as too large is retried with sizes checked: the events that cannot fit a
   * first topic are dead-lettered (class `oversized`) and the rest go on (see route()).
   */
  private handleBatch(records: readonly ConsumedRecord[], controls: BatchControls): Promise<void> {
    let checkSizes = false;
    return retryBatch(() => this.route(records, checkSizes), {
      signal: this.stopping.signal,
      heartbeat: () => controls.heartbeat(),
      onFailure: (error, attempt, waitMs) => {
        if (this.context.kafka.classify(error) === 'too-large') checkSizes = true;
        this.context.logger.warn(
          { err: error, topic: records[0]?.topic, partition: records[0]?.partition, attempt, waitMs },
          error instanceof DecoderUnavailableError
            ? 'schema registry unavailable; batch waits'
            : checkSizes
              ? 'the broker refused a record of the batch as too large; retrying it with the events that do not fit dead-lettered'
              : 'routing a batch failed; retrying it',
        );
      },
    });
  }

  /**
   * `checkSizes`: the broker refused this batch as too large. Sizes are compared with the topics'
   * `max.message.bytes` only then (uncompressed sizes over-estimate what a compressed batch
   * takes, so an event that compresses well is routed rather than dead-lettered on a guess).
   */
  private async route(records: readonly ConsumedRecord[], checkSizes = false): Promise<void> {
    const { plan, dedup, metrics, logger } = this.context;
    const deadLetters: OutgoingRecord[] = [];
    const candidates: Routable[] = [];
    const seenInBatch = new Set<string>();
    let duplicates = 0;
    let oversized = 0;
    const limits = checkSizes ? await this.firstTopicLimits() : undefined;

    for (const record of records) {
      const problem = await this.extract(record);
      if (typeof problem === 'string') {
        logger.warn({ origin: `${record.topic}/${record.partition}/${record.offset}`, reason: problem }, 'invalid event dead-lettered');
        deadLetters.push(
          deadLetterRecord({ origin: record, errorClass: 'invalid', error: problem, destination: 'router', attempts: 0, headers: { [HEADER.plan]: plan.id } }),
        );
        continue;
      }
      const bytes = estimateRecordBytes({ key: problem.key, value: record.value }) + COPY_HEADER_BYTES;
      if (limits !== undefined && bytes > limits.smallest.bytes) {
        const { topic, bytes: limit } = limits.smallest;
        const error = `event of ${record.value?.length ?? 0} bytes does not fit topic ${topic} (max.message.bytes ${limit}); raise max.message.bytes of the topics the router writes, or make the event smaller`;
        logger.warn({ origin: `${record.topic}/${record.partition}/${record.offset}`, eventId: problem.eventId, key: problem.key, bytes, topic, maxMessageBytes: limit }, 'oversized event dead-lettered');
        deadLetters.push(deadLetterRecord({ origin: record, errorClass: 'oversized', error, destination: 'router', attempts: 0, headers: { [HEADER.plan]: plan.id } }));
        oversized += 1;
        continue;
      }
      if (seenInBatch.has(problem.eventId)) {
        duplicates += 1;
        continue;
      }
      seenInBatch.add(problem.eventId);
      candidates.push(problem);
    }

    const routed = await dedup.routed(candidates.map((c) => c.eventId));
    const fresh = candidates.filter((c) => !routed.has(c.eventId));
    duplicates += candidates.length - fresh.length;
    // Seqs and in-flight marks are independent: one round trip for both.
    const [seqs, chosen] = await Promise.all([dedup.assignSeqs(fresh), this.markInFlight(fresh)]);

    const copies = new Map<string, OutgoingRecord[]>();
    const ingestedAt = Date.now();
    const traces = fresh.map((event) => validTraceparent(event.record.headers[HEADER.traceparent]));
    const newTraces = newTraceparents(traces.filter((t) => t === undefined).length);
    fresh.forEach((event, index) => {
      const target = chosen[index]!;
      // Built and encoded once per event; every copy of it shares the same header Buffers.
      const headers = encodedHeaders(
        toHeaders({ plan: target.id, eventId: event.eventId, key: event.key, seq: seqs[index]!, ingestedAt, traceparent: traces[index] ?? newTraces.pop()! }),
      );
      const copy: OutgoingRecord = { key: event.key, value: event.record.value, headers, ...withCarried(event.record.carriedHeaders) };
      for (const { topic } of target.slices.router.first) {
        const list = copies.get(topic);
        if (list === undefined) copies.set(topic, [copy]);
        else list.push(copy);
      }
    });
    // A dead letter too large for the DLQ keeps the start of its value and points at the event (fy-origin, fy-truncated).
    if (deadLetters.length > 0) copies.set(plan.dlqTopic, limits === undefined ? deadLetters : deadLetters.map((d) => fitDeadLetter(d, limits.dlq)));

    const last = records[records.length - 1]!;
    // Settles with the transaction that carried the batch, shared with other partitions' batches handled meanwhile.
    await this.transactions!.commit({
      records: [...copies].map(([topic, list]) => ({ topic, records: list })),
      offsets: [{ topic: last.topic, partition: last.partition, offset: nextOffset(last.offset) }],
    });
    await this.untilDone('marking events routed', () => dedup.markRouted(fresh.map((e) => e.eventId)));

    metrics.routerBatches.inc(this.labels);
    metrics.eventsIn.inc(this.labels, records.length);
    if (duplicates > 0) metrics.dedupHits.inc({ ...this.labels, stage: 'router' }, duplicates);
    if (deadLetters.length > oversized) metrics.dlqRecords.inc({ ...this.labels, destination: 'router', class: 'invalid' }, deadLetters.length - oversized);
    if (oversized > 0) metrics.dlqRecords.inc({ ...this.labels, destination: 'router', class: 'oversized' }, oversized);
    for (const target of new Set(chosen)) {
      const count = chosen.filter((p) => p === target).length;
      for (const { destination } of target.slices.router.first) metrics.eventsRouted.inc({ topology: plan.name, plan: target.id, destination }, count);
    }
  }

  /** `max.message.bytes` of the smallest topic the router copies events to (any live plan), and of the DLQ. */
  private async firstTopicLimits(): Promise<{ smallest: { topic: string; bytes: number }; dlq: number }> {
    const { kafka, plan } = this.context;
    const topics = [...new Set(this.routing.plans.flatMap((p) => p.slices.router.first.map((f) => f.topic)))];
    const limits = await maxMessageBytes(kafka, [...topics, plan.dlqTopic]);
    const known = topics.filter((t) => limits.has(t)).map((topic) => ({ topic, bytes: limits.get(topic)!.bytes }));
    const smallest = known.reduce((a, b) => (b.bytes < a.bytes ? b : a), known[0] ?? { topic: topics[0] ?? plan.dlqTopic, bytes: BROKER_DEFAULT_MAX_MESSAGE_BYTES });
    return { smallest, dlq: limits.get(plan.dlqTopic)?.bytes ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES };
  }

  /** Chooses each event's plan and marks it in flight there, before the copies exist: the tracker may decide an event as soon as they do. */
  private async markInFlight(events: readonly Routable[]): Promise<Plan[]> {
    const chosen = await this.choosePlans(events);
    await Promise.all([...new Set(chosen)].map((target) => this.inFlight.add(target.id, events.filter((_, i) => chosen[i] === target))));
    return chosen;
  }

  /** Each event's plan: its key's target unless the key is still busy in another live plan. */
  private async choosePlans(events: readonly Routable[]): Promise<Plan[]> {
    const { plans } = this.routing;
    if (plans.length === 1) return events.map(() => plans[0]!);
    const keys = [...new Set(events.map((e) => e.key))];
    const busy = new Map<string, Set<string>>();
    for (const plan of plans) {
      if (this.drained.has(plan.id)) continue;
      busy.set(plan.id, await this.inFlight.busy(plan.id, keys));
      if (this.routing.draining.includes(plan) && (await this.inFlight.keysInFlight(plan.id)) === 0) {
        this.drained.add(plan.id);
        this.context.logger.info({ drained: plan.id }, 'no key is in flight in the old plan any more; routing only to the current plans');
      }
    }
    return choosePlans(events, this.routing, busy);
  }

  /**
   * The copies are committed already: retrying the whole batch would route it twice, so
   * only this step is retried. Abandoned at shutdown, the marks are missing and a later
   * duplicate of these events is routed again; the workers' done-keys stop its writes.
   */
  private async untilDone(what: string, step: () => Promise<void>): Promise<void> {
    try {
      await retryForever(step, {
        signal: this.stopping.signal,
        backoff: RETRY_BACKOFF,
        onRetry: (error, attempt, waitMs) => this.context.logger.warn({ err: error, attempt, waitMs }, `${what} failed; retrying`),
      });
    } catch (error) {
      if (!(error instanceof AbandonedError)) throw error;
      // Stopped: one last try, so a stop during a short blip still records the marks.
      await step().catch(() => undefined);
    }
  }

  /** The event's id and key, or why it cannot be routed. Rejects only when the decoder is unavailable. */
  private async extract(record: ConsumedRecord): Promise<Routable | string> {
    const { source } = this.context.plan;
    const decoded = await this.decoder.decode(record.value);
    if (!decoded.ok) return decoded.reason;
    const eventId = readField(decoded.payload, source.idPath);
    if (!eventId.ok) return `event id: ${eventId.reason}`;
    const key = readField(decoded.payload, source.keyPath);
    if (!key.ok) return `causal key: ${key.reason}`;
    return { record, eventId: eventId.value, key: key.value };
  }
}
