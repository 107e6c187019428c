import type { KafkaClient } from './client.js';
import { retryWhileRetriable } from './retriable.js';

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Default: the broker's `default.replication.factor` (-1 in the CreateTopics request). */
  readonly replicationFactor?: number;
  readonly config?: Readonly<Record<string, string>>;
}

export type TooFewPartitions = readonly { name: string; has: number; needs: number }[];

export interface EnsureTopicsResult {
  readonly created: readonly string[];
  readonly existing: readonly string[];
  /** Existing topics with fewer partitions than asked for; never changed automatically. */
  readonly tooFewPartitions: TooFewPartitions;
}

/**
 * Creates the topics that do not exist yet; safe to repeat. Existing topics are left as
 * they are (more partitions than needed is fine; fewer is reported, because adding
 * partitions would move keys between partitions and break per-key order). `refuse` sees the
 * existing topics with too few partitions before anything is created: when it throws,
 * nothing is created.
 */
export async function ensureTopics(
  kafka: KafkaClient,
  specs: readonly TopicSpec[],
  refuse: (tooFew: TooFewPartitions) => void = () => undefined,
): Promise<EnsureTopicsResult> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const present = new Set(await retryWhileRetriable(() => admin.listTopics()));
    const missing = specs.filter((s) => !present.has(s.name));
    const existingSpecs = specs.filter((s) => present.has(s.name));
    const tooFewPartitions: { name: string; has: number; needs: number }[] = [];
    if (existingSpecs.length > 0) {
      const metadata = await retryWhileRetriable(() => admin.fetchTopicMetadata({ topics: existingSpecs.map((s) => s.name) }));
      for (const spec of existingSpecs) {
        const has = metadata.topics.find((t) => t.name === spec.name)?.partitions.length ?? 0;
        if (has < spec.partitions) tooFewPartitions.push({ name: spec.name, has, needs: spec.partitions });
      }
    }
    refuse(tooFewPartitions);
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: s.replicationFactor ?? -1,
          configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    return { created: missing.map((s) => s.name), existing: existingSpecs.map((s) => s.name), tooFewPartitions };
  } finally {
    await admin.disconnect();
  }
}

/** The topics among `names` the broker does not have. */
export async function missingTopics(kafka: KafkaClient, names: readonly string[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const present = new Set(await admin.listTopics());
    return names.filter((name) => !present.has(name));
  } finally {
    await admin.disconnect();
  }
}
