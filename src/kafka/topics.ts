import type { KafkaPort } from './port.js';
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
  kafka: KafkaPort,
  specs: readonly TopicSpec[],
  refuse: (tooFew: TooFewPartitions) => void = () => undefined,
): Promise<EnsureTopicsResult> {
  const admin = kafka.admin();
  try {
    const present = new Set(await retryWhileRetriable(kafka, () => admin.listTopics()));
    const missing = specs.filter((s) => !present.has(s.name));
    const existingSpecs = specs.filter((s) => present.has(s.name));
    const tooFewPartitions: { name: string; has: number; needs: number }[] = [];
    if (existingSpecs.length > 0) {
      const counts = await retryWhileRetriable(kafka, () => admin.partitionCounts(existingSpecs.map((s) => s.name)));
      for (const spec of existingSpecs) {
        const has = counts.get(spec.name) ?? 0;
        if (has < spec.partitions) tooFewPartitions.push({ name: spec.name, has, needs: spec.partitions });
      }
    }
    refuse(tooFewPartitions);
    if (missing.length > 0) {
      await admin.createTopics(missing.map((s) => ({ name: s.name, partitions: s.partitions, replicationFactor: s.replicationFactor ?? -1, config: s.config ?? {} })));
    }
    return { created: missing.map((s) => s.name), existing: existingSpecs.map((s) => s.name), tooFewPartitions };
  } finally {
    await admin.disconnect();
  }
}

/** The topics among `names` the broker does not have. */
export async function missingTopics(kafka: KafkaPort, names: readonly string[]): Promise<string[]> {
  const admin = kafka.admin();
  try {
    const present = new Set(await admin.listTopics());
    return names.filter((name) => !present.has(name));
  } finally {
    await admin.disconnect();
  }
}
