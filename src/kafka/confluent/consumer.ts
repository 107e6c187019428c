/**
 * The group consumer on librdkafka's KafkaConsumer (its native API: the KafkaJS-compatible
 * layer keeps a message cache of its own that hides how far a partition was really read).
 *
 * One loop: consume() hands up to MAX_MESSAGES records of any assigned partitions; they are
 * split into one batch per partition (offset order kept) and handed to `handleBatch`, up to
 * `partitionsConsumedConcurrently` partitions at a time; the loop consumes again once every
 * batch of the round finished. librdkafka moves a partition's position past transaction markers
 * and aborted records (read_committed) without handing them over, so after each consume the
 * positions tell what was skipped: `onSkipped`, and a batch's `lastOffset()` past its last
 * record. Heartbeats run on librdkafka's own thread; a round (the handlers of one consume) must
 * end within max.poll.interval.ms (5 min) or librdkafka leaves the group and rejoins at the next
 * consume.
 */
import type { Assignment, KafkaConsumer, LibrdKafkaError, Message, TopicPartition, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { BatchControls, GroupConsumer, GroupConsumerOptions, TopicPartitions } from '../port.js';
import type { ConsumedRecord, TopicPartitionOffset as PortOffset } from '../records.js';
import { asError } from './errors.js';
import { commonConfig, confluent, routeLogs, type RdkafkaConfig } from './library.js';
import type { Preflight } from './preflight.js';
import { toConsumedRecord } from './records.js';

/** Records one consume() call hands over at most (all partitions together). */
const MAX_MESSAGES = 5_000;
/** How long one consume() waits for a first record; also how soon a stop or a marker-only fetch is noticed. */
const CONSUME_WAIT_MS = 100;
const ERR_ASSIGN_PARTITIONS = -175;

/** Methods lib/kafka-consumer.js has and types/rdkafka.d.ts (1.10.1) leaves out. */
interface NativeConsumer extends KafkaConsumer {
  /** An asynchronous commit whose callback says whether the broker took it (commit() only queues it). */
  commitCb(offsets: TopicPartitionOffset[], callback: (error: LibrdKafkaError | null) => void): this;
  /** True: consume(n) waits CONSUME_WAIT_MS for the first record only, then returns what is there. */
  setDefaultIsTimeoutOnlyForFirstMessage(onlyFirst: boolean): void;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

const consumers = new WeakMap<GroupConsumer, KafkaConsumer>();

/** The native consumer behind a group consumer of this backend (a transaction's sendOffsets needs its group metadata). */
export function nativeConsumerOf(consumer: GroupConsumer): KafkaConsumer {
  const native = consumers.get(consumer);
  if (native === undefined) throw new Error(`sendOffsets: the consumer of group ${consumer.groupId} is not one of the confluent backend's; a transaction takes offsets of its own backend's consumers`);
  return native;
}

export function consumerConfig(connection: KafkaConnection, clientId: string, groupId: string): RdkafkaConfig {
  return {
    ...commonConfig(connection, clientId),
    'group.id': groupId,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'isolation.level': 'read_committed',
    'allow.auto.create.topics': false,
    // After a pause, the next fetch would otherwise idle the writers up to 500 ms (as the kafkajs backend's 250).
    'fetch.wait.max.ms': 250,
  };
}

interface Round {
  readonly topic: string;
  readonly partition: number;
  readonly records: ConsumedRecord[];
}

export class ConfluentGroupConsumer implements GroupConsumer {
  private readonly native: NativeConsumer;
  private running = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private assignment: TopicPartition[] = [];
  /** Partitions the owner paused: kept paused across rebalances. */
  private readonly paused = new Map<string, TopicPartition>();
  /** Per partition, the next offset the owner has seen (records handed over or reported skipped). */
  private readonly seen = new Map<string, number>();
  private readonly log: Logger;

  constructor(
    connection: KafkaConnection,
    clientId: string,
    private readonly options: GroupConsumerOptions,
    logger: Logger,
    private readonly preflight: Preflight,
  ) {
    this.log = logger.child({ group: options.groupId });
    const { KafkaConsumer: Native } = confluent();
    this.native = new Native(
      {
        ...consumerConfig(connection, clientId, options.groupId),
        'session.timeout.ms': options.sessionTimeoutMs ?? 30_000,
        'heartbeat.interval.ms': 3_000,
        'max.partition.fetch.bytes': options.maxBytesPerPartition ?? 1_048_576, // 1 MiB: bounds one batch in memory
        // Per topic, its partitions among the members subscribed to it: members of one group reading different topics get only theirs.
        'partition.assignment.strategy': 'range',
        rebalance_cb: (error: LibrdKafkaError, assignment: Assignment[]) => this.onRebalance(error, assignment),
      },
      { 'auto.offset.reset': options.fromBeginning === false ? 'latest' : 'earliest' },
    ) as NativeConsumer;
    routeLogs(this.native, logger, 'consumer');
    consumers.set(this, this.native);
  }

  get groupId(): string {
    return this.options.groupId;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error(`consumer of group ${this.groupId} was disconnected; it does not start again`);
    await this.preflight.check();
    await new Promise<void>((resolve, reject) => this.native.connect({}, (error) => (error ? reject(asError(error, `connecting the consumer of group ${this.groupId}`)) : resolve())));
    this.native.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
    this.native.setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.native.subscribe([...this.options.topics]);
    this.running = !this.stopped;
    this.loop = this.consumeLoop();
  }

  private onRebalance(error: LibrdKafkaError, assignment: Assignment[]): void {
    try {
      if (error.code === ERR_ASSIGN_PARTITIONS) {
        this.native.assign(assignment);
        this.assignment = assignment.map(({ topic, partition }) => ({ topic, partition }));
        const owned = new Set(this.assignment.map((tp) => key(tp.topic, tp.partition)));
        for (const k of this.seen.keys()) if (!owned.has(k)) this.seen.delete(k);
        // librdkafka forgets pauses with the old assignment; the owner's stand.
        const repause = [...this.paused].filter(([k]) => owned.has(k)).map(([, tp]) => tp);
        if (repause.length > 0) this.native.pause(repause);
        if (!this.running) this.native.pause(this.assignment);
        const byTopic = groupByTopic(this.assignment);
        this.log.info({ assignment: byTopic }, 'partitions assigned');
        this.options.onAssignment?.(byTopic);
      } else {
        this.native.unassign();
        this.assignment = [];
        this.seen.clear();
      }
    } catch (failure) {
      this.log.error({ err: failure }, 'applying a rebalance failed');
    }
  }

  private consume(): Promise<Message[]> {
    return new Promise((resolve, reject) => this.native.consume(MAX_MESSAGES, (error, messages) => (error ? reject(asError(error, `consuming for group ${this.groupId}`)) : resolve(messages))));
  }

  private async consumeLoop(): Promise<void> {
    while (this.running) {
      let messages: Message[];
      try {
        messages = await this.consume();
      } catch (error) {
        // librdkafka retries broker failures itself; what reaches here is reported and consumed past.
        this.log.error({ err: error }, 'consume failed; consuming again');
        continue;
      }
      if (!this.running) break;
      await this.handleRound(messages);
    }
  }

  private async handleRound(messages: readonly Message[]): Promise<void> {
    const rounds = new Map<string, Round>();
    for (const message of messages) {
      const k = key(message.topic, message.partition);
      let round = rounds.get(k);
      if (round === undefined) rounds.set(k, (round = { topic: message.topic, partition: message.partition, records: [] }));
      round.records.push(toConsumedRecord(message));
    }
    // Positions right after the consume: past the markers and aborted records it went over.
    const positions = new Map<string, number>();
    if (this.assignment.length > 0) {
      for (const p of this.native.position(this.assignment) as TopicPartitionOffset[]) {
        if (p.offset !== undefined && p.offset >= 0) positions.set(key(p.topic, p.partition), p.offset);
      }
    }
    for (const [k, position] of positions) {
      if (rounds.has(k)) continue;
      const seen = this.seen.get(k);
      if (seen !== undefined && position <= seen) continue;
      const [topic, partition] = [k.slice(0, k.indexOf('\u0000')), Number(k.slice(k.indexOf('\u0000') + 1))];
      // Only markers (or aborted records) since the last look. With nothing seen before, the first of them is unknown but everything up to position-1 held no record.
      this.seen.set(k, position);
      this.options.onSkipped?.(topic, partition, String(seen ?? position - 1), String(position - 1));
    }
    const queue = [...rounds.values()];
    const workers = Math.max(1, Math.min(this.options.partitionsConsumedConcurrently ?? 1, queue.length));
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let round = queue.shift(); round !== undefined; round = queue.shift()) await this.handleBatch(round, positions.get(key(round.topic, round.partition)));
      }),
    );
  }

  private async handleBatch(round: Round, position: number | undefined): Promise<void> {
    const { topic, partition, records } = round;
    const k = key(topic, partition);
    const first = records[0]!;
    if (!this.running || this.paused.has(k) || !this.owns(k)) {
      // Paused (or stopped, or revoked) after the fetch: nothing more of it is handed over. A paused
      // partition reads these records again after resume.
      if (this.running && this.paused.has(k) && this.owns(k)) this.rewind(topic, partition, Number(first.offset));
      return;
    }
    const lastRecord = Number(records[records.length - 1]!.offset);
    const last = position !== undefined && position - 1 > lastRecord ? position - 1 : lastRecord;
    const controls: BatchControls = {
      // librdkafka sends heartbeats from its own thread.
      heartbeat: async () => undefined,
      isRunning: () => this.running,
      lastOffset: () => String(last),
    };
    await this.options.handleBatch(records, controls);
    this.seen.set(k, last + 1);
    if (last > lastRecord) this.options.onSkipped?.(topic, partition, String(lastRecord + 1), String(last));
    if (this.options.commitMode === 'after-batch') await this.commit([{ topic, partition, offset: String(last + 1) }]);
  }

  private owns(k: string): boolean {
    return this.assignment.some((tp) => key(tp.topic, tp.partition) === k);
  }

  /** Moves a paused partition's fetch position back to `offset`, so a resume reads from there. */
  private rewind(topic: string, partition: number, offset: number): void {
    this.native.seek({ topic, partition, offset }, 0, (error) => {
      if (error) this.log.error({ err: error, topic, partition, offset }, 'moving a paused partition back to its first unread record failed');
    });
    // Not a skip: the position stands at a record the owner gets after resume.
    this.seen.set(key(topic, partition), offset);
  }

  async commit(offsets: readonly PortOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    const list = offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset: Number(offset) }));
    await new Promise<void>((resolve, reject) =>
      this.native.commitCb(list, (error: LibrdKafkaError | null) => (error ? reject(asError(error, `committing offsets of group ${this.groupId}`)) : resolve())),
    );
  }

  pause(partitions: readonly TopicPartitions[]): void {
    const list = flatten(partitions);
    for (const tp of list) this.paused.set(key(tp.topic, tp.partition), tp);
    const assigned = list.filter((tp) => this.owns(key(tp.topic, tp.partition)));
    if (assigned.length > 0) this.native.pause(assigned);
  }

  resume(partitions: readonly TopicPartitions[]): void {
    const list = flatten(partitions);
    for (const tp of list) this.paused.delete(key(tp.topic, tp.partition));
    const assigned = list.filter((tp) => this.owns(key(tp.topic, tp.partition)));
    if (assigned.length > 0 && this.running) this.native.resume(assigned);
  }

  stopFetching(): void {
    this.running = false;
    if (this.assignment.length > 0) this.native.pause(this.assignment);
  }

  async disconnect(): Promise<void> {
    this.running = false;
    this.stopped = true;
    await this.loop;
    if (!this.native.isConnected()) return;
    // Closing leaves the group (LeaveGroup): its partitions move to the other members at once.
    await new Promise<void>((resolve, reject) => this.native.disconnect((error: unknown) => (error ? reject(asError(error, `leaving group ${this.groupId}`)) : resolve())));
  }
}

function flatten(partitions: readonly TopicPartitions[]): TopicPartition[] {
  return partitions.flatMap(({ topic, partitions: numbers }) => numbers.map((partition) => ({ topic, partition })));
}

function groupByTopic(assignment: readonly TopicPartition[]): TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of assignment) {
    const list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, [partition]);
    else list.push(partition);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

