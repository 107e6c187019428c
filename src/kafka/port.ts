/**
 * The Kafka port: everything flowyard's roles, commands and tools ask of a Kafka client, in
 * flowyard's own types. No client library's type crosses it; each backend (src/kafka/<client>/)
 * implements it, and `createKafka` (src/kafka/client.ts) picks one from KAFKA_CLIENT.
 *
 * The shape follows what the roles need, not what one library offers: a group consumer that
 * hands over batches of one partition and lets its owner commit (after the batch, or later,
 * or inside a transaction); an idempotent producer (acks=all) whose transactions carry consumer
 * offsets; the admin reads and writes the commands make; reading a range of a topic.
 */
import type { ConsumedRecord, OutgoingRecord, TopicPartitionOffset } from './records.js';

export type KafkaClientName = 'kafkajs' | 'confluent' | 'platformatic';

export interface KafkaPort {
  /** The client library behind the port (logs, metrics, the bench). */
  readonly client: KafkaClientName;
  /**
   * True when a transaction's `sendOffsets` carries the consumer group's generation and member
   * id (KIP-447, TxnOffsetCommit v3+): the broker then refuses the offsets of a member that
   * lost its partitions in a rebalance, whatever producer sends them, so one transactional
   * producer per member (any transactional id unique to it) can carry the batches of all its
   * partitions, as Kafka Streams' exactly_once_v2 does. False when only the transactional id
   * fences (kafkajs sends the group id alone): a zombie is stopped only by a newer producer
   * with the same id, so an owner needs one id per input partition, which the partition's next
   * owner takes over (the pre-KIP-447 model, Kafka Streams' exactly_once v1).
   */
  readonly fencesGroupMembers: boolean;
  admin(): KafkaAdmin;
  /** An idempotent producer (acks=all, ordered per partition across retries), connected. */
  producer(options?: ProducerOptions): Promise<KafkaProducer>;
  groupConsumer(options: GroupConsumerOptions): GroupConsumer;
  /** Reads `range` of `topic` (read_committed) outside any group; see RangeReadOptions. */
  readRange(topic: string, range: ReadonlyMap<number, PartitionRange>, handle: (records: readonly ConsumedRecord[]) => Promise<void>, options: RangeReadOptions): Promise<void>;
  /** Reads `topics` from their current end on, outside any group, until stopped. */
  tail(topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail>;
  /** What a failed produce, transaction or admin call means for the caller. */
  classify(error: unknown): KafkaErrorKind;
}

/**
 * `too-large`: the broker refused a record batch as larger than the topic's max.message.bytes
 * (the same records never fit). `retriable`: another attempt can succeed (a broker down, a
 * leader election, a coordinator loading), also after the client's own retries ran out.
 * `permanent`: the records' or the configuration's fault (authorisation, an invalid record).
 */
export type KafkaErrorKind = 'too-large' | 'retriable' | 'permanent';

export interface ProducerOptions {
  /** Makes the producer transactional (records and consumer offsets committed atomically). */
  readonly transactionalId?: string;
}

/** Records for one topic; a record's `partition` wins over the key's partition. */
export interface TopicRecords {
  readonly topic: string;
  readonly records: readonly OutgoingRecord[];
}

export interface KafkaProducer {
  /** Writes the records and waits for acks=all. */
  send(batch: readonly TopicRecords[]): Promise<void>;
  transaction(): Promise<KafkaTransaction>;
  disconnect(): Promise<void>;
}

/** A consumer offset committed inside a transaction; `metadata` travels with it (the sequencer's flush token). */
export interface TransactionOffset extends TopicPartitionOffset {
  readonly metadata?: string;
}

export interface KafkaTransaction {
  send(batch: readonly TopicRecords[]): Promise<void>;
  /** Commits `offsets` of `consumer`'s group with the transaction. */
  sendOffsets(consumer: GroupConsumer, offsets: readonly TransactionOffset[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

/** What a batch handler can do besides processing records. */
export interface BatchControls {
  /** Keeps the group membership alive during long batches. */
  heartbeat(): Promise<void>;
  /** False once shutdown started: finish what is in hand, start nothing new. */
  isRunning(): boolean;
  /**
   * The last offset the fetched batch covers: past the last record when the batch ends in
   * transaction markers. A transactional owner commits `nextOffset(lastOffset())` so a drained
   * partition shows lag 0.
   */
  lastOffset(): string;
}

export interface GroupConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /**
   * `after-batch`: the handler finishes the batch before returning; its offsets are then
   * committed (at-least-once: a crash re-delivers at most the batch in flight).
   * `manual`: the handler only takes the records in hand (the fetch position advances);
   * the owner commits with `commit()` once work is really done, e.g. up to the lowest
   * unfinished offset, or inside a transaction with `sendOffsets`.
   */
  readonly commitMode: 'after-batch' | 'manual';
  /** Records of ONE topic-partition, in offset order. */
  readonly handleBatch: (records: readonly ConsumedRecord[], controls: BatchControls) => Promise<void>;
  /** Where a group with no committed offset starts; default earliest (nothing is skipped). */
  readonly fromBeginning?: boolean;
  readonly sessionTimeoutMs?: number;
  readonly maxBytesPerPartition?: number;
  /**
   * Partitions whose batches are handled at the same time (default 1). Batches of one
   * partition are always handled one after another, in offset order.
   */
  readonly partitionsConsumedConcurrently?: number;
  /** Called with the partitions this member owns after every rebalance. */
  readonly onAssignment?: (assignment: readonly TopicPartitions[]) => void;
  /**
   * Offsets `first`..`last` of a partition were consumed but hold no record for the owner
   * (transaction markers). An owner committing record by record commits past them through
   * this, so a drained partition of a transactional topic shows lag 0, not 1.
   */
  readonly onSkipped?: (topic: string, partition: number, first: string, last: string) => void;
}

/**
 * A consumer-group member that hands records to its handler batch by batch, with explicit
 * commits, pause/resume per partition, and a graceful stop: stop fetching, let the owner
 * finish in-flight work and commit, then leave the group. Members of one group may subscribe
 * to different topics (a live switch's old and new workers): each topic's partitions go only
 * to members that read it. A batch the process cannot decompress pauses its partition with
 * one error naming the codec; nothing at or after it is handed over or committed.
 */
export interface GroupConsumer {
  readonly groupId: string;
  /** Joins the group and starts fetching; resolves once running. */
  start(): Promise<void>;
  /** Commits `offset` (the next offset to read) per partition. */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  pause(partitions: readonly TopicPartitions[]): void;
  /** Resumes `partitions`, except those paused at an unreadable batch. */
  resume(partitions: readonly TopicPartitions[]): void;
  /** Stops fetching new batches; the current batch handler may still finish. */
  stopFetching(): void;
  /** Leaves the group and closes connections; call after the final commit. */
  disconnect(): Promise<void>;
}

/** Start and end (exclusive) offsets of one partition. */
export interface PartitionRange {
  readonly start: bigint;
  readonly end: bigint;
}

export interface RangeReadOptions {
  /** Prefix of a throw-away consumer group's name, where the client needs one (the command reading). */
  readonly purpose: string;
  /** Give up when no partition advanced for this long, ms. */
  readonly stallTimeoutMs?: number;
}

export interface Tail {
  stop(): Promise<void>;
}

export interface PartitionWatermarks {
  readonly partition: number;
  /** Log start offset. */
  readonly low: string;
  /** High watermark: the next offset to be written. */
  readonly high: string;
}

/** A committed group offset; "-1" when the group has none for the partition. */
export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly metadata: string | null;
}

export interface NewTopic {
  readonly name: string;
  readonly partitions: number;
  /** -1: the broker's `default.replication.factor`. */
  readonly replicationFactor: number;
  readonly config: Readonly<Record<string, string>>;
}

/** A topic config value, and whether it is set on the topic itself (not inherited from the broker). */
export interface TopicConfigValue {
  readonly value: string;
  readonly own: boolean;
}

/**
 * Admin calls. Connects on first use; `disconnect` closes. Reads of topics created a moment
 * ago may fail retriably for a moment (leaders being elected): callers retry by `classify`.
 */
export interface KafkaAdmin {
  listTopics(): Promise<string[]>;
  /** Partition counts of existing `topics` (a missing topic is absent from the map). */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>;
  createTopics(topics: readonly NewTopic[]): Promise<void>;
  watermarks(topic: string): Promise<PartitionWatermarks[]>;
  /** Per partition, the first offset whose timestamp is at or after `timestamp` (ms); the high watermark where none is. */
  offsetsAt(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]>;
  committedOffsets(groupId: string, topics: readonly string[]): Promise<CommittedOffset[]>;
  /** `names` of each of `topics`' configs; a topic that does not exist is absent. */
  topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, TopicConfigValue>>>;
  /** Resolves when a broker answers (readiness). */
  ping(): Promise<void>;
  disconnect(): Promise<void>;
}
