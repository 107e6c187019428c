/** The port's admin calls on @platformatic/kafka's Admin (connects on first use). */
import { Admin, ConfigResourceTypes, ConfigSources, FetchIsolationLevels } from '@platformatic/kafka';
import type { KafkaConnection } from '../../config/env.js';
import type { CommittedOffset, KafkaAdmin, NewTopic, PartitionWatermarks, TopicConfigValue } from '../port.js';
import { baseOptions, findIn, type ConnectionCheck } from './connection.js';
import { ConnectOnce } from '../connect-once.js';

/** ListOffsets' special timestamps. */
const EARLIEST = -2n;
const LATEST = -1n;
/** How long createTopics waits for the new topics' partition leaders, ms, polling every LEADER_POLL_MS. */
const LEADERS_TIMEOUT_MS = 30_000;
const LEADER_POLL_MS = 100;

export class PlatformaticAdmin implements KafkaAdmin {
  private readonly admin: Admin;
  /** The first call checks TLS and SASL (clear errors); later calls go straight on. */
  private readonly connecting = new ConnectOnce(() => this.check.run(async () => void (await this.admin.metadata({ topics: [] }))));

  constructor(connection: KafkaConnection, clientId: string, private readonly check: ConnectionCheck) {
    this.admin = new Admin(baseOptions(connection, clientId));
  }

  private async ready(): Promise<Admin> {
    await this.connecting.ready();
    return this.admin;
  }

  async listTopics(): Promise<string[]> {
    return (await this.ready()).listTopics();
  }

  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const admin = await this.ready();
    const existing = new Set(await admin.listTopics());
    const asked = [...new Set(topics)].filter((t) => existing.has(t));
    const counts = new Map<string, number>();
    if (asked.length === 0) return counts;
    const metadata = await admin.metadata({ topics: asked, forceUpdate: true });
    for (const topic of asked) {
      const count = metadata.topics.get(topic)?.partitionsCount;
      if (count !== undefined) counts.set(topic, count);
    }
    return counts;
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    const admin = await this.ready();
    for (const topic of topics) {
      try {
        await admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas: topic.replicationFactor,
          configs: Object.entries(topic.config).map(([name, value]) => ({ name, value })),
        });
      } catch (error) {
        // Created meanwhile by another process starting the same plan: what was asked for exists.
        if (!findIn(error as Error, 'apiId', 'TOPIC_ALREADY_EXISTS')) throw error;
      }
    }
    await this.leadersElected(topics.map((t) => t.name));
  }

  /** Waits until every partition of `names` has a leader, as kafkajs' createTopics({ waitForLeaders }) does. */
  private async leadersElected(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const deadline = Date.now() + LEADERS_TIMEOUT_MS;
    for (;;) {
      try {
        const metadata = await this.admin.metadata({ topics: [...names], forceUpdate: true });
        const ready = names.every((name) => {
          const topic = metadata.topics.get(name);
          return topic !== undefined && topic.partitions.length === topic.partitionsCount && topic.partitions.every((p) => p.leader >= 0);
        });
        if (ready) return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new Error(`topics ${names.join(', ')} were created but their partitions got no leader within ${LEADERS_TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
    }
  }

  private async partitionsOf(topic: string): Promise<number[]> {
    const metadata = await (await this.ready()).metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    return Array.from({ length: count }, (_, i) => i);
  }

  /** Offsets at `timestamp` per partition; read_committed like the kafkajs backend's, so `high` is the last stable offset. */
  private async offsets(topic: string, timestamp: bigint): Promise<Map<number, bigint>> {
    const partitions = await this.partitionsOf(topic);
    const listed = await this.admin.listOffsets({
      topics: [{ name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp, currentLeaderEpoch: -1 })) }],
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
    return new Map(listed.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.offset] as const)));
  }

  async watermarks(topic: string): Promise<PartitionWatermarks[]> {
    const [low, high] = [await this.offsets(topic, EARLIEST), await this.offsets(topic, LATEST)];
    return [...high].sort(([a], [b]) => a - b).map(([partition, offset]) => ({ partition, low: String(low.get(partition) ?? 0n), high: offset.toString() }));
  }

  async offsetsAt(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]> {
    const at = await this.offsets(topic, BigInt(timestamp));
    const missing = [...at].some(([, offset]) => offset < 0n);
    // No record at or after the timestamp: the partition's high watermark.
    const high = missing ? await this.offsets(topic, LATEST) : at;
    return [...at].sort(([a], [b]) => a - b).map(([partition, offset]) => ({ partition, offset: (offset < 0n ? high.get(partition)! : offset).toString() }));
  }

  async committedOffsets(groupId: string, topics: readonly string[]): Promise<CommittedOffset[]> {
    const admin = await this.ready();
    const existing = new Set(await admin.listTopics());
    const asked: { name: string; partitionIndexes: number[] }[] = [];
    for (const name of topics.filter((t) => existing.has(t))) asked.push({ name, partitionIndexes: await this.partitionsOf(name) });
    if (asked.length === 0) return [];
    const [group] = await admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: asked }] });
    const committed = new Map((group?.topics ?? []).flatMap((t) => t.partitions.map((p) => [`${t.name}:${p.partitionIndex}`, p] as const)));
    return asked.flatMap(({ name, partitionIndexes }) =>
      partitionIndexes.map((partition) => {
        const found = committed.get(`${name}:${partition}`);
        return { topic: name, partition, offset: (found?.committedOffset ?? -1n).toString(), metadata: found?.metadata ?? null };
      }),
    );
  }

  async topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, TopicConfigValue>>> {
    const admin = await this.ready();
    const existing = new Set(await admin.listTopics());
    const asked = [...new Set(topics)].filter((t) => existing.has(t));
    const result = new Map<string, Map<string, TopicConfigValue>>();
    if (asked.length === 0) return result;
    const described = await admin.describeConfigs({
      resources: asked.map((resourceName) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName, configurationKeys: [...names] })),
      includeSynonyms: false,
    });
    for (const resource of described) {
      const values = new Map<string, TopicConfigValue>();
      for (const config of resource.configs) {
        if (config.value !== null && config.value !== undefined) values.set(config.name, { value: config.value, own: config.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG });
      }
      result.set(resource.resourceName, values);
    }
    return result;
  }

  async ping(): Promise<void> {
    await (await this.ready()).metadata({ topics: [], forceUpdate: true });
  }

  async disconnect(): Promise<void> {
    this.connecting.forget();
    await this.admin.close();
  }
}
