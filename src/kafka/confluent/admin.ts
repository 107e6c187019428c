/**
 * Admin calls through the library's KafkaJS-compatible Admin (promises over librdkafka's admin
 * API). The library binds no DescribeConfigs (confluentinc/confluent-kafka-javascript#444, open
 * in 1.10.1): `topicConfigs` goes to the kafkajs backend's admin, the one call that does.
 */
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { CommittedOffset, KafkaAdmin, NewTopic, PartitionWatermarks, TopicConfigValue } from '../port.js';
import { commonConfig, confluent } from './library.js';
import type { Preflight } from './preflight.js';
import { ConnectOnce } from '../connect-once.js';

/** How long one admin request waits for the broker, ms (the library's default is 5 s; a topic creation on a loaded broker takes longer). */
const ADMIN_TIMEOUT_MS = 30_000;

/** The library's KafkaJS-style logger, writing to pino. */
function kafkajsLogger(logger: Logger): KafkaJS.Logger {
  const child = logger.child({ component: 'librdkafka', client: 'admin' });
  const adapter: KafkaJS.Logger = {
    info: (message, extra) => child.info(extra ?? {}, message),
    warn: (message, extra) => child.warn(extra ?? {}, message),
    error: (message, extra) => child.error(extra ?? {}, message),
    debug: (message, extra) => child.debug(extra ?? {}, message),
    namespace: () => adapter,
    setLogLevel: () => undefined,
  };
  return adapter;
}

export class ConfluentAdmin implements KafkaAdmin {
  private readonly admin: KafkaJS.Admin;
  /** Connects on first use, after the TLS/SASL preflight. */
  private readonly connecting = new ConnectOnce(() => this.preflight.check().then(() => this.admin.connect()));
  private configsAdmin: KafkaAdmin | undefined;

  constructor(
    private readonly connection: KafkaConnection,
    clientId: string,
    private readonly logger: Logger,
    private readonly clientIdSuffix: string | undefined,
    private readonly preflight: Preflight,
  ) {
    const { Kafka } = confluent().KafkaJS;
    this.admin = new Kafka({ ...commonConfig(connection, clientId), kafkaJS: { logger: kafkajsLogger(logger) } } as KafkaJS.CommonConstructorConfig).admin();
  }

  private async ready(): Promise<KafkaJS.Admin> {
    await this.connecting.ready();
    return this.admin;
  }

  async listTopics(): Promise<string[]> {
    return (await this.ready()).listTopics({ timeout: ADMIN_TIMEOUT_MS });
  }

  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const admin = await this.ready();
    const existing = await this.existing(topics);
    if (existing.length === 0) return new Map();
    const metadata = await admin.fetchTopicMetadata({ topics: existing, timeout: ADMIN_TIMEOUT_MS });
    return new Map(metadata.map((t) => [t.name, t.partitions.length]));
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    if (topics.length === 0) return;
    // An existing topic is no error here (the library resolves TOPIC_ALREADY_EXISTS), as with the kafkajs backend.
    await (await this.ready()).createTopics({
      timeout: ADMIN_TIMEOUT_MS,
      topics: topics.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor,
        configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
      })),
    });
  }

  async watermarks(topic: string): Promise<PartitionWatermarks[]> {
    const offsets = await (await this.ready()).fetchTopicOffsets(topic, { timeout: ADMIN_TIMEOUT_MS, isolationLevel: confluent().KafkaJS.IsolationLevel.READ_UNCOMMITTED });
    return offsets.map(({ partition, low, high }) => ({ partition, low, high }));
  }

  async offsetsAt(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]> {
    const admin = await this.ready();
    const [offsets, watermarks] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(topic, timestamp, { timeout: ADMIN_TIMEOUT_MS, isolationLevel: confluent().KafkaJS.IsolationLevel.READ_UNCOMMITTED }), this.watermarks(topic)]);
    const high = new Map(watermarks.map((w) => [w.partition, w.high]));
    // librdkafka answers -1 for a partition with nothing at or after `timestamp`: the port says the high watermark.
    return offsets.map(({ partition, offset }) => ({ partition, offset: Number(offset) < 0 ? (high.get(partition) ?? offset) : offset }));
  }

  async committedOffsets(groupId: string, topics: readonly string[]): Promise<CommittedOffset[]> {
    if (topics.length === 0) return [];
    const counts = await this.partitionCounts(topics);
    if (counts.size === 0) return [];
    // Asked by partition: a group that committed nothing answers no partition at all when asked by topic.
    const asked = [...counts].map(([topic, count]) => ({ topic, partitions: Array.from({ length: count }, (_, partition) => partition) }));
    const committed = await (await this.ready()).fetchOffsets({ groupId, topics: asked, timeout: ADMIN_TIMEOUT_MS });
    const found = new Map(committed.flatMap(({ topic, partitions }) => partitions.map((p) => [`${topic}/${p.partition}`, p] as const)));
    return asked.flatMap(({ topic, partitions }) =>
      partitions.map((partition) => {
        const entry = found.get(`${topic}/${partition}`);
        const offset = entry === undefined || Number(entry.offset) < 0 ? '-1' : entry.offset;
        return { topic, partition, offset, metadata: entry?.metadata ? entry.metadata : null };
      }),
    );
  }

  async topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, TopicConfigValue>>> {
    if (this.configsAdmin === undefined) {
      const { KAFKA_BACKENDS } = await import('../backends.js');
      const kafkajs = await KAFKA_BACKENDS.kafkajs();
      this.configsAdmin = kafkajs.createPort(this.connection, this.logger, this.clientIdSuffix).admin();
    }
    return this.configsAdmin.topicConfigs(topics, names);
  }

  async ping(): Promise<void> {
    await (await this.ready()).listTopics({ timeout: ADMIN_TIMEOUT_MS });
  }

  async disconnect(): Promise<void> {
    const connected = this.connecting.forget();
    await this.configsAdmin?.disconnect();
    this.configsAdmin = undefined;
    if (connected) await this.admin.disconnect();
  }

  private async existing(topics: readonly string[]): Promise<string[]> {
    const present = new Set(await this.listTopics());
    return [...new Set(topics)].filter((t) => present.has(t));
  }
}
