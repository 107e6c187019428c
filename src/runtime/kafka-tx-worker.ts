/**
 * The transactional path of a destination whose sink is `kafka` (and of a compensation whose
 * undo is `kafka`): Kafka Streams exactly-once in flowyard's shape. Per consumed batch of ONE
 * input partition, one Kafka transaction holds
 *
 *   - the copies to the sink topic (value bytes unchanged, flowyard's headers),
 *   - the hand-on copies to the next steps' input topics (cascade, dag),
 *   - the completions,
 *   - the dead letters of records that cannot be written (not a flowyard copy; too large for a
 *     topic: truncated value plus `fy-origin`, the reference to the whole record),
 *   - and the input offsets (`sendOffsets`),
 *
 * and then commits. A read_committed reader sees all of a batch's records or none, and the
 * offsets move with them: a batch is re-read only when its transaction did not commit, so a
 * redelivery, a SIGKILL mid-batch or a broker restart never shows a copy twice, with or
 * without Redis. A failed transaction is aborted and the batch retried with backoff; the
 * records of a batch keep their offset order, so each partition is written in order.
 *
 * Fencing depends on the backend (KafkaPort.fencesGroupMembers):
 *   - With KIP-447 (confluent, platformatic): the offsets carry the group's generation and
 *     member id, so the broker refuses them from a member that lost the partition. The worker
 *     then runs ONE transactional producer (id: transactional-ids.ts, per member) and the
 *     batches of several partitions share a transaction (TransactionCoalescer), as Kafka
 *     Streams' exactly_once_v2 runs one producer per thread: the fixed round trips of a
 *     transaction are paid once for all the batches in hand. A part of a shared transaction is
 *     still one partition's batch whole, committed with its own offset or not at all.
 *   - Without (kafkajs; the pre-KIP-447 model): each input partition has its own transactional
 *     id, `<group>/<input topic>/<partition>`. Whoever owns the partition next opens its
 *     producer with the same id; that bumps the epoch, aborts a dead owner's open transaction
 *     at once, and makes a zombie's (an owner that has not noticed it lost the partition) next
 *     commit fail with a fencing error instead of writing a second copy.
 *
 * Redis is not needed for exactly-once here. Done-keys remain only as a filter for an event id
 * routed twice (a different input record: the router lost its `routed` mark): read with one
 * MGET per transaction, written by one script call (EVALSHA) after it committed.
 */
import { RuntimeFailure } from '../errors.js';
import { DEFAULT_COMPRESSION } from '../kafka/compression.js';
import type { BatchControls, GroupConsumer, KafkaProducer, TopicPartitions } from '../kafka/port.js';
import { produceTransactionally } from '../kafka/producer.js';
import { nextOffset, withCarried, type ConsumedRecord, type OutgoingRecord } from '../kafka/records.js';
import { estimateRecordBytes, maxMessageBytes } from '../kafka/message-size.js';
import { missingTopics } from '../kafka/topics.js';
import { TransactionCoalescer } from '../kafka/transaction-coalescer.js';
import { CIRCUIT_STATE_VALUE } from '../observability/metrics.js';
import { kafkaSinkTopic } from '../sinks/kafka/config.js';
import type { PlanDestination, WorkerSlice } from '../topology/plan.js';
import { planLabels, type RoleContext } from './context.js';
import type { DeadLetterClass } from './dead-letter.js';
import { fromHeaders, toHeaders } from './headers.js';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, TRUNCATED_VALUE_BYTES, truncatedOrigin } from './record-size.js';
import { retryBatch } from './retry-batch.js';
import { memberTransactionalId, partitionTransactionalId } from './transactional-ids.js';
import { RoleLifecycle, type Role } from './role.js';
import { StepEmitter } from './worker/emitter.js';
import { AbandonedError } from '../resilience/abort.js';
import { retryForever } from '../resilience/retry.js';

export interface KafkaTxWorkerOptions {
  /** Run as the destination's compensation worker (its `compensate` sink is `kafka`). */
  readonly compensation?: boolean;
}

/**
 * Input partitions transacted at once per worker process at most, whatever `concurrency` says:
 * without KIP-447 each is a producer and its connection; with it, the batches of a shared
 * transaction, all aborted and retried together when it fails.
 */
const MAX_PARTITIONS_AT_ONCE = 16;
/** Records per shared transaction at most: it ends, and read_committed readers of its topics see it, within one round of batches. */
const SHARED_TRANSACTION_RECORDS = 10_000;
/** Waits between tries of recording done-keys after a commit (the transaction must not be repeated). */
const MARK_BACKOFF = { initialDelayMs: 100, maxDelayMs: 5_000 } as const;
/** A value this much smaller than every topic's limit cannot make any of its records too large; no need to measure them. */
const SIZE_CHECK_MARGIN_BYTES = 64 * 1024;

/** What one transaction writes, and what to count once it committed. */
interface Outputs {
  readonly byTopic: Map<string, OutgoingRecord[]>;
  /** Event ids copied to the sink in this transaction (done-keys after the commit). */
  readonly written: string[];
  duplicates: number;
  readonly deadLetters: Map<DeadLetterClass, number>;
}

/** A consumed record with its flowyard headers read once. */
interface Item {
  readonly record: ConsumedRecord;
  readonly parsed: ReturnType<typeof fromHeaders>;
}

/** Records of a batch already committed; survives a failed try so a retry never repeats them. */
interface Progress {
  committed: number;
}

export class KafkaTransactionalWorker implements Role {
  readonly name: string;
  readonly inputTopic: string;
  private readonly group: string;
  private readonly doneName: string;
  private readonly sinkTopic: string;
  private readonly compensating: boolean;
  private readonly emitter: StepEmitter;
  private readonly slice: WorkerSlice;
  private readonly lifecycle: RoleLifecycle;
  private readonly labels: { topology: string; plan: string; destination: string };
  private readonly stopping = new AbortController();
  private consumer: GroupConsumer | undefined;
  /** Without KIP-447: one transactional producer per input partition this member owns (created at its first batch). */
  private readonly producers = new Map<number, Promise<KafkaProducer>>();
  /** With KIP-447: the member's one transactional producer, shared by the batches of all its partitions. */
  private shared: TransactionCoalescer | undefined;
  /** The transactional id of the member's producer in use (with KIP-447); a failed transaction opens the next under a new one. */
  private sharedId: string | undefined;
  private assigned = new Set<number>();
  /** The next offset this member committed per partition, to tell marker-only batches worth a commit. */
  private readonly committed = new Map<number, bigint>();
  /** `max.message.bytes` of every topic this worker writes. */
  private limits = new Map<string, number>();
  private smallestLimit = BROKER_DEFAULT_MAX_MESSAGE_BYTES;
  private transactionsInFlight = 0;
  /**
   * Records are measured before producing only without compression: the broker's limit is
   * on the compressed batch, which only the broker knows, so with a codec a too-large record
   * is found by the broker's refusal (and the split below) rather than dead-lettered early.
   */
  private readonly measureRecords: boolean;

  constructor(
    private readonly context: RoleContext,
    private readonly destination: PlanDestination,
    options: KafkaTxWorkerOptions = {},
  ) {
    this.compensating = options.compensation === true;
    const compensation = destination.compensation;
    if (this.compensating && compensation === undefined) throw new Error(`destination ${destination.name} declares no compensate`);
    const sink = kafkaSinkTopic(this.compensating ? compensation!.sink : destination.sink);
    if (sink === undefined) throw new Error(`destination ${destination.name}: the transactional worker writes only kafka sinks`);
    this.sinkTopic = sink.topic;
    this.name = this.compensating ? `compensator:${destination.name}` : `worker:${destination.name}`;
    // The generic worker's slice, so a switch between the two paths keeps the groups and done-keys.
    const kind = this.compensating ? 'compensation' : 'write';
    const slice = context.plan.slices.workers.find((w) => w.destination === destination.name && w.kind === kind);
    if (slice === undefined) throw new Error(`destination ${destination.name} is not in plan ${context.plan.id}`);
    this.slice = slice;
    this.inputTopic = slice.inputTopic;
    this.group = slice.group;
    this.doneName = slice.doneKeyName;
    this.lifecycle = new RoleLifecycle(this.name);
    this.labels = { ...planLabels(context.plan), destination: this.doneName };
    this.measureRecords = (context.env.kafka.compression ?? DEFAULT_COMPRESSION) === 'none';
    this.emitter = new StepEmitter({ plan: context.plan, worker: slice });
  }

  async start(): Promise<void> {
    const { kafka, logger, metrics } = this.context;
    this.lifecycle.to('starting');
    // Kafka does the retrying here (a failed transaction is retried whole); there is no circuit to open.
    metrics.circuitState.set(this.labels, CIRCUIT_STATE_VALUE.closed);
    // Every transaction would fail on a missing sink topic (auto-creation is off): say so at start, as the kafka sink does.
    let missing: string[];
    try {
      missing = await missingTopics(kafka, [this.sinkTopic]);
    } catch (error) {
      throw new RuntimeFailure(`kafka sink of destination ${this.destination.name} cannot read the metadata of topic ${this.sinkTopic}: ${(error as Error).message}`, { cause: error });
    }
    if (missing.length > 0) {
      throw new RuntimeFailure(`kafka sink of destination ${this.destination.name}: topic ${this.sinkTopic} does not exist; create it with \`flowyard topics create <topology file>\``);
    }
    await this.refreshLimits();
    const consumer = kafka.groupConsumer({
      groupId: this.group,
      topics: [this.inputTopic],
      commitMode: 'manual',
      partitionsConsumedConcurrently: Math.min(this.destination.concurrency, MAX_PARTITIONS_AT_ONCE),
      handleBatch: (records, controls) => this.handleBatch(records, controls),
      onAssignment: (assignment) => this.onAssignment(assignment),
      onSkipped: (topic, partition, _first, last) => void this.onSkipped(topic, partition, last),
    });
    this.consumer = consumer;
    if (kafka.fencesGroupMembers) {
      this.shared = await TransactionCoalescer.create({
        open: () => {
          // A new id each time (transactional-ids.ts): fencing comes from the group's generation.
          const transactionalId = memberTransactionalId(this.group, this.inputTopic);
          this.sharedId = transactionalId;
          logger.info({ destination: this.destination.name, transactionalId }, 'opening the transactional producer of this member');
          return kafka.producer({ transactionalId });
        },
        consumer,
        classify: (error) => kafka.classify(error),
        maxRecords: SHARED_TRANSACTION_RECORDS,
        // As with a producer per partition: after a failed transaction (fenced, aborted by the coordinator, abort refused) a new producer starts clean.
        renewAfterFailure: true,
        onCleanupFailed: (error) =>
          logger.warn({ err: error, destination: this.destination.name }, 'cleaning up after a failed transaction failed (abort, disconnect or reopening the producer); the broker aborts what is left at its timeout'),
      });
    }
    await consumer.start();
    this.lifecycle.to('running');
    logger.info(
      { role: this.name, destination: this.destination.name, input: this.inputTopic, sink: this.sinkTopic, producers: this.shared === undefined ? 'one per input partition' : 'one per member' },
      'transactional kafka worker running',
    );
  }

  /** The transactional ids in use: the member's one (KIP-447), else one per input partition with an open producer (logs, tests). */
  transactionalIds(): string[] {
    if (this.sharedId !== undefined) return [this.sharedId];
    return [...this.producers.keys()].map((partition) => partitionTransactionalId(this.group, this.inputTopic, partition));
  }

  /** Graceful: stop fetching; the batch in hand commits in its transaction or not at all; then disconnect. */
  async stop(): Promise<void> {
    if (!this.lifecycle.beginStop()) return;
    this.stopping.abort();
    this.consumer?.stopFetching();
    await this.consumer?.disconnect(); // waits for the batches in hand: no part is left in the shared transactions
    await Promise.all([...this.producers.keys()].map((partition) => this.dropProducer(partition)));
    await this.shared?.close().catch((error: unknown) => {
      // A producer whose broker is gone: nothing of it is left to close.
      this.context.logger.debug({ err: error, destination: this.destination.name }, 'closing the transactional producer failed');
    });
    this.context.metrics.inFlight.set(this.labels, 0);
    this.lifecycle.to('stopped');
  }

  // ---- consuming -----------------------------------------------------------------------

  private handleBatch(records: readonly ConsumedRecord[], controls: BatchControls): Promise<void> {
    const partition = records[0]!.partition;
    const items: Item[] = records.map((record) => ({ record, parsed: fromHeaders(record.headers) }));
    const progress: Progress = { committed: 0 };
    let attempt = 0;
    return retryBatch(
      async () => {
        attempt += 1;
        const pending = progress.committed === 0 ? items : items.slice(progress.committed);
        const end = nextOffset(maxOffset(records[records.length - 1]!.offset, controls.lastOffset()));
        const done = await this.context.dedup.done(this.doneName, eventIdsOf(pending));
        await this.writeRange(partition, pending, done, end, attempt, progress);
      },
      {
        signal: this.stopping.signal,
        heartbeat: () => controls.heartbeat(),
        onFailure: (error, failedAttempt, waitMs) => {
          this.context.metrics.retries.inc(this.labels);
          this.context.logger.warn(
            { err: error, destination: this.destination.name, topic: this.inputTopic, partition, offsets: `${records[0]!.offset}..${records[records.length - 1]!.offset}`, attempt: failedAttempt, waitMs },
            'writing a batch failed (a transaction begun for it was aborted); retrying the batch',
          );
        },
      },
    );
  }

  private onAssignment(assignment: readonly TopicPartitions[]): void {
    const mine = new Set(assignment.find((a) => a.topic === this.inputTopic)?.partitions ?? []);
    const lost = [...this.assigned].filter((p) => !mine.has(p));
    this.assigned = mine;
    // The group consumer rejoins only after the batches in hand finished: no transaction of a lost partition is open.
    for (const partition of lost) {
      this.committed.delete(partition);
      void this.dropProducer(partition);
    }
  }

  /** A batch of transaction markers only: commit past it, so a drained partition shows lag 0 (no transaction needed, nothing is written). */
  private async onSkipped(topic: string, partition: number, last: string): Promise<void> {
    if (topic !== this.inputTopic || !this.assigned.has(partition) || this.consumer === undefined) return;
    const next = BigInt(last) + 1n;
    if (next <= (this.committed.get(partition) ?? -1n)) return; // the batch's own transaction committed past these markers
    try {
      await this.consumer.commit([{ topic, partition, offset: next.toString() }]);
      this.committed.set(partition, next);
    } catch (error) {
      // Only lag reporting suffers: the next batch's transaction commits past these markers.
      this.context.logger.warn({ err: error, destination: this.destination.name, partition, offset: next.toString() }, 'committing past transaction markers failed');
    }
  }

  // ---- one transaction -----------------------------------------------------------------

  /**
   * Writes `records` (ending the batch at `end`, the next offset to read) in one transaction.
   * When the broker refuses a record as too large, the range is split in two and each half
   * written in order; a single refused record is dead-lettered, so it never stalls the partition.
   */
  private async writeRange(
    partition: number,
    records: readonly Item[],
    done: ReadonlySet<string>,
    end: string,
    attempt: number,
    progress: Progress,
    refused?: string,
  ): Promise<void> {
    const outputs = this.outputsOf(records, done, attempt, refused);
    try {
      await this.transact(partition, outputs.byTopic, end);
    } catch (error) {
      if (this.context.kafka.classify(error) !== 'too-large' || this.stopping.signal.aborted) throw error;
      const tooLarge = `the broker refused it as too large for a topic it goes to (${(error as Error).message})`;
      await this.refreshLimits();
      if (records.length === 1) {
        if (refused !== undefined) throw error; // even the truncated dead letter was refused: retried, and logged as such
        this.context.logger.warn({ destination: this.destination.name, origin: originOf(records[0]!.record), reason: tooLarge }, 'the broker refused a record as too large; dead-lettering it');
        await this.writeRange(partition, records, done, end, attempt, progress, tooLarge);
        return;
      }
      const middle = Math.ceil(records.length / 2);
      const first = records.slice(0, middle);
      await this.writeRange(partition, first, done, nextOffset(first[first.length - 1]!.record.offset), attempt, progress);
      await this.writeRange(partition, records.slice(middle), done, end, attempt, progress);
      return;
    }
    progress.committed += records.length;
    this.count(outputs);
    if (outputs.written.length > 0) await this.markDone(outputs.written);
  }

  /** The records one transaction writes for `records`; `refused` dead-letters every event of them with that reason. */
  private outputsOf(items: readonly Item[], done: ReadonlySet<string>, attempt: number, refused?: string): Outputs {
    const outputs: Outputs = { byTopic: new Map(), written: [], duplicates: 0, deadLetters: new Map() };
    const copied = new Set<string>();
    for (const { record, parsed } of items) {
      if (!parsed.ok) {
        this.context.logger.warn({ destination: this.destination.name, origin: originOf(record), reason: parsed.reason }, 'not a flowyard copy; dead-lettered');
        this.addDeadLetter(outputs, truncatedOrigin(record), undefined, 'invalid', parsed.reason, attempt);
        continue;
      }
      const { event } = parsed;
      if (done.has(event.eventId) || copied.has(event.eventId)) {
        // The same event id routed twice: written once, but its hand-on and completion go out
        // again, so whoever waits for this copy (tracker, next step) is answered; they dedup.
        outputs.duplicates += 1;
        addAll(outputs.byTopic, this.emitter.succeeded(record, event, 1, event.traceparent));
        continue;
      }
      if (refused !== undefined) {
        this.addDeadLetter(outputs, truncatedOrigin(record, this.truncatedValueBytes()), event, 'oversized', refused, attempt);
        continue;
      }
      const copy: OutgoingRecord = { key: event.key, value: record.value, headers: toHeaders(event, attempt), ...withCarried(record.carriedHeaders) };
      const onward = this.emitter.succeeded(record, event, attempt, event.traceparent);
      const tooLarge = this.measureRecords ? this.tooLargeFor(record, copy, onward) : undefined;
      if (tooLarge !== undefined) {
        this.context.logger.warn({ destination: this.destination.name, eventId: event.eventId, origin: originOf(record), reason: tooLarge }, 'record too large for a topic; dead-lettered');
        this.addDeadLetter(outputs, truncatedOrigin(record, this.truncatedValueBytes()), event, 'oversized', tooLarge, attempt);
        continue;
      }
      add(outputs.byTopic, this.sinkTopic, copy);
      addAll(outputs.byTopic, onward);
      copied.add(event.eventId);
      outputs.written.push(event.eventId);
    }
    return outputs;
  }

  private addDeadLetter(outputs: Outputs, origin: ConsumedRecord, event: Parameters<StepEmitter['deadLettered']>[1], failureClass: DeadLetterClass, error: string, attempts: number): void {
    const { records, errorClass } = this.emitter.deadLettered(origin, event, failureClass, error, attempts);
    addAll(outputs.byTopic, records);
    outputs.deadLetters.set(errorClass, (outputs.deadLetters.get(errorClass) ?? 0) + 1);
  }

  /** Why a record of this event would be refused by its topic, or undefined when all fit. */
  private tooLargeFor(origin: ConsumedRecord, copy: OutgoingRecord, onward: ReadonlyMap<string, readonly OutgoingRecord[]>): string | undefined {
    // Every record of an event carries its value once plus headers; below this nothing can come near a limit.
    if ((origin.value?.length ?? 0) + SIZE_CHECK_MARGIN_BYTES < this.smallestLimit) return undefined;
    const check = (topic: string, record: OutgoingRecord): string | undefined => {
      const size = estimateRecordBytes(record);
      const limit = this.limits.get(topic) ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES;
      return size > limit ? `a record of ${size} bytes for topic ${topic} exceeds its max.message.bytes (${limit})` : undefined;
    };
    const ofCopy = check(this.sinkTopic, copy);
    if (ofCopy !== undefined) return ofCopy;
    for (const [topic, list] of onward) {
      for (const record of list) {
        const problem = check(topic, record);
        if (problem !== undefined) return problem;
      }
    }
    return undefined;
  }

  /** A truncated value fits the DLQ and completions topics with room to spare (its dead letter and its completion each carry it once). */
  private truncatedValueBytes(): number {
    const { dlqTopic, completionsTopic } = this.context.plan;
    const room = Math.min(this.limits.get(dlqTopic) ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES, this.limits.get(completionsTopic) ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES);
    return Math.max(0, Math.min(TRUNCATED_VALUE_BYTES, Math.floor(room / 4)));
  }

  /**
   * One transaction (or one part of a shared one): records, then the input offset, then
   * commit. A failure aborts it and renews the producer (the retry runs on a fresh one).
   */
  private async transact(partition: number, byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>, end: string): Promise<void> {
    const { metrics } = this.context;
    this.transactionsInFlight += 1;
    metrics.inFlight.set(this.labels, this.transactionsInFlight);
    metrics.destinationCalls.inc(this.labels);
    const timer = metrics.writeDuration.startTimer(this.labels);
    const offsets = [{ topic: this.inputTopic, partition, offset: end }];
    try {
      if (this.shared !== undefined) {
        await this.shared.commit({ records: [...byTopic].map(([topic, records]) => ({ topic, records })), offsets });
      } else {
        try {
          await produceTransactionally(await this.producerFor(partition), this.consumer!, byTopic, offsets);
        } catch (error) {
          // After a failed transaction (fenced, aborted by the coordinator, abort refused) the
          // producer's state is unknown; a new one with the same id fences it and starts clean.
          await this.dropProducer(partition);
          throw error;
        }
      }
      this.committed.set(partition, BigInt(end));
    } finally {
      timer();
      this.transactionsInFlight -= 1;
      metrics.inFlight.set(this.labels, this.transactionsInFlight);
    }
  }

  private count(outputs: Outputs): void {
    const { metrics } = this.context;
    if (outputs.written.length > 0) metrics.writes.inc({ ...this.labels, outcome: 'ok' }, outputs.written.length);
    if (outputs.duplicates > 0) {
      metrics.writes.inc({ ...this.labels, outcome: 'duplicate' }, outputs.duplicates);
      metrics.dedupHits.inc({ topology: this.labels.topology, plan: this.labels.plan, stage: this.doneName }, outputs.duplicates);
    }
    for (const [errorClass, n] of outputs.deadLetters) {
      metrics.writes.inc({ ...this.labels, outcome: 'dead_letter' }, n);
      metrics.dlqRecords.inc({ topology: this.labels.topology, plan: this.labels.plan, destination: this.labels.destination, class: errorClass }, n);
    }
  }

  /**
   * The transaction committed: repeating it would copy twice, so only this step is retried.
   * Abandoned at shutdown, the marks are missing; the offsets are committed, so that costs
   * nothing unless the router routes one of these events again.
   */
  private async markDone(eventIds: readonly string[]): Promise<void> {
    try {
      await retryForever(() => this.context.dedup.markAllDone(this.doneName, eventIds), {
        signal: this.stopping.signal,
        backoff: MARK_BACKOFF,
        onRetry: (error, attempt, waitMs) =>
          this.context.logger.warn({ err: error, destination: this.destination.name, attempt, waitMs, events: eventIds.length }, 'recording done-keys after a commit failed; retrying'),
      });
    } catch (error) {
      if (!(error instanceof AbandonedError)) throw error;
      // Stopped (before the first try, or while waiting to retry): one last try, as before this
      // loop moved onto the resilience policies, so a stop right after a commit still records them.
      await this.context.dedup.markAllDone(this.doneName, eventIds).catch((last: unknown) => {
        this.context.logger.warn({ err: last, destination: this.destination.name, events: eventIds.length }, 'recording done-keys at stop failed; a second routing of these events would be written again');
      });
    }
  }

  // ---- producers and limits ------------------------------------------------------------

  private producerFor(partition: number): Promise<KafkaProducer> {
    let producer = this.producers.get(partition);
    if (producer === undefined) {
      producer = this.context.kafka.producer({ transactionalId: partitionTransactionalId(this.group, this.inputTopic, partition) });
      this.producers.set(partition, producer);
    }
    return producer;
  }

  private async dropProducer(partition: number): Promise<void> {
    const producer = this.producers.get(partition);
    if (producer === undefined) return;
    this.producers.delete(partition);
    try {
      await (await producer).disconnect();
    } catch (error) {
      // A producer that never connected or whose broker is gone: nothing of it is left to close.
      this.context.logger.debug({ err: error, destination: this.destination.name, partition }, 'closing a transactional producer failed');
    }
  }

  /** Reads `max.message.bytes` of every topic written; keeps the known values when the broker cannot say. */
  private async refreshLimits(): Promise<void> {
    const { plan, kafka, logger } = this.context;
    const topics = [this.sinkTopic, ...this.slice.nextTopics, plan.completionsTopic, plan.dlqTopic];
    try {
      const limits = new Map(this.limits);
      for (const [topic, limit] of await maxMessageBytes(kafka, topics)) if (Number.isSafeInteger(limit.bytes) && limit.bytes > 0) limits.set(topic, limit.bytes);
      this.limits = limits;
      this.smallestLimit = Math.min(BROKER_DEFAULT_MAX_MESSAGE_BYTES, ...limits.values());
    } catch (error) {
      logger.warn({ err: error, destination: this.destination.name, topics }, 'reading max.message.bytes of the output topics failed; a refused record is still dead-lettered when the broker refuses it');
    }
  }

}

function add(byTopic: Map<string, OutgoingRecord[]>, topic: string, record: OutgoingRecord): void {
  const list = byTopic.get(topic);
  if (list === undefined) byTopic.set(topic, [record]);
  else list.push(record);
}

function addAll(byTopic: Map<string, OutgoingRecord[]>, more: ReadonlyMap<string, readonly OutgoingRecord[]>): void {
  for (const [topic, records] of more) for (const record of records) add(byTopic, topic, record);
}

function eventIdsOf(items: readonly Item[]): string[] {
  const ids: string[] = [];
  for (const { parsed } of items) if (parsed.ok) ids.push(parsed.event.eventId);
  return ids;
}

function maxOffset(a: string, b: string): string {
  return BigInt(a) >= BigInt(b) ? a : b;
}

function originOf(record: ConsumedRecord): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}
