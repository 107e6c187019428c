/**
 * The kafkajs backend of the Kafka port (KAFKA_CLIENT=kafkajs): kafkajs 2.2.4, pinned because
 * the codecs module reaches into its fetch decoding. No kafkajs type leaves this directory.
 */
import kafkajs, { type Admin, type Producer, type Transaction } from 'kafkajs';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { ConsumedRecord, OutgoingRecord } from '../records.js';
import { createKafkaClient, type KafkaClient } from './client.js';
import { BatchConsumer } from './consumer.js';
import { chunkByBytes, createProducer } from './producer.js';
import { readRange } from './range-reader.js';
import { tailTopics } from './tail.js';
import type {
  CommittedOffset,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaAdmin,
  KafkaErrorKind,
  KafkaPort,
  KafkaProducer,
  KafkaTransaction,
  NewTopic,
  PartitionRange,
  PartitionWatermarks,
  ProducerOptions,
  RangeReadOptions,
  Tail,
  TopicConfigValue,
  TopicRecords,
  TransactionOffset,
} from '../port.js';
import { classifyKafkajsError } from './errors.js';
import { ConnectOnce } from '../connect-once.js';

const { ConfigResourceTypes, ConfigSource } = kafkajs;

export function createPort(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): KafkaPort {
  return new KafkajsPort(createKafkaClient(connection, logger, clientIdSuffix), logger);
}

class KafkajsPort implements KafkaPort {
  readonly client = 'kafkajs' as const;
  /** kafkajs' TxnOffsetCommit carries no group generation or member id (no KIP-447). */
  readonly fencesGroupMembers = false;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly logger: Logger,
  ) {}

  admin(): KafkaAdmin {
    return new KafkajsAdmin(this.kafka.admin());
  }

  async producer(options: ProducerOptions = {}): Promise<KafkaProducer> {
    return new KafkajsProducer(await createProducer(this.kafka, options));
  }

  groupConsumer(options: GroupConsumerOptions): GroupConsumer {
    return new BatchConsumer({ ...options, kafka: this.kafka, logger: this.logger });
  }

  readRange(topic: string, range: ReadonlyMap<number, PartitionRange>, handle: (records: readonly ConsumedRecord[]) => Promise<void>, options: RangeReadOptions): Promise<void> {
    return readRange(this.kafka, topic, range, handle, options);
  }

  tail(topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> {
    return tailTopics(this.kafka, topics, onRecord);
  }

  classify(error: unknown): KafkaErrorKind {
    return classifyKafkajsError(error);
  }
}

/** One request per chunk of at most MAX_REQUEST_BYTES: the broker refuses a request above message.max.bytes. */
async function sendInChunks(sender: Producer | Transaction, batch: readonly TopicRecords[]): Promise<void> {
  const byTopic = new Map<string, readonly OutgoingRecord[]>();
  for (const { topic, records } of batch) {
    if (records.length === 0) continue;
    const known = byTopic.get(topic);
    byTopic.set(topic, known === undefined ? records : [...known, ...records]);
  }
  for (const topicMessages of chunkByBytes(byTopic)) await sender.sendBatch({ acks: -1, topicMessages });
}

class KafkajsProducer implements KafkaProducer {
  constructor(private readonly producer: Producer) {}

  send(batch: readonly TopicRecords[]): Promise<void> {
    return sendInChunks(this.producer, batch);
  }

  async transaction(): Promise<KafkaTransaction> {
    return new KafkajsTransaction(await this.producer.transaction());
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

class KafkajsTransaction implements KafkaTransaction {
  constructor(private readonly transaction: Transaction) {}

  send(batch: readonly TopicRecords[]): Promise<void> {
    return sendInChunks(this.transaction, batch);
  }

  async sendOffsets(consumer: GroupConsumer, offsets: readonly TransactionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    const byTopic = new Map<string, { partition: number; offset: string; metadata?: string }[]>();
    for (const { topic, partition, offset, metadata } of offsets) {
      const partitions = byTopic.get(topic) ?? [];
      // kafkajs passes a partition's metadata on to TxnOffsetCommit although its typings leave it out.
      partitions.push({ partition, offset, ...(metadata !== undefined && { metadata }) });
      byTopic.set(topic, partitions);
    }
    await this.transaction.sendOffsets({ consumerGroupId: consumer.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
  }

  commit(): Promise<void> {
    return this.transaction.commit();
  }

  abort(): Promise<void> {
    return this.transaction.abort();
  }
}

class KafkajsAdmin implements KafkaAdmin {
  private readonly connecting = new ConnectOnce(() => this.admin.connect());

  constructor(private readonly admin: Admin) {}

  private async ready(): Promise<Admin> {
    await this.connecting.ready();
    return this.admin;
  }

  async listTopics(): Promise<string[]> {
    return (await this.ready()).listTopics();
  }

  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const admin = await this.ready();
    const existing = await this.existing(admin, topics);
    if (existing.length === 0) return new Map();
    const metadata = await admin.fetchTopicMetadata({ topics: existing });
    return new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    if (topics.length === 0) return;
    await (await this.ready()).createTopics({
      waitForLeaders: true,
      topics: topics.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor,
        configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
      })),
    });
  }

  async watermarks(topic: string): Promise<PartitionWatermarks[]> {
    const offsets = await (await this.ready()).fetchTopicOffsets(topic);
    return offsets.map(({ partition, low, high }) => ({ partition, low, high }));
  }

  async offsetsAt(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]> {
    // kafkajs answers the high watermark for a partition with nothing at or after `timestamp`.
    const offsets = await (await this.ready()).fetchTopicOffsetsByTimestamp(topic, timestamp);
    return offsets.map(({ partition, offset }) => ({ partition, offset }));
  }

  async committedOffsets(groupId: string, topics: readonly string[]): Promise<CommittedOffset[]> {
    if (topics.length === 0) return [];
    const committed = await (await this.ready()).fetchOffsets({ groupId, topics: [...topics] });
    return committed.flatMap(({ topic, partitions }) => partitions.map(({ partition, offset, metadata }) => ({ topic, partition, offset, metadata })));
  }

  async topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, TopicConfigValue>>> {
    const configs = new Map<string, Map<string, TopicConfigValue>>();
    const admin = await this.ready();
    const existing = await this.existing(admin, topics);
    if (existing.length === 0 || names.length === 0) return configs;
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: existing.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: [...names] })),
    });
    for (const resource of described.resources) {
      const values = new Map<string, TopicConfigValue>();
      for (const entry of resource.configEntries) {
        // TOPIC_CONFIG: set on the topic; any other source (the broker's setting, its default) is inherited.
        values.set(entry.configName, { value: entry.configValue, own: entry.configSource === ConfigSource.TOPIC_CONFIG });
      }
      configs.set(resource.resourceName, values);
    }
    return configs;
  }

  async ping(): Promise<void> {
    await (await this.ready()).describeCluster();
  }

  async disconnect(): Promise<void> {
    if (this.connecting.forget()) await this.admin.disconnect();
  }

  private async existing(admin: Admin, topics: readonly string[]): Promise<string[]> {
    const present = new Set(await admin.listTopics());
    return [...new Set(topics)].filter((t) => present.has(t));
  }
}
