import type { Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import { createKafka } from '../../kafka/client.js';
import type { KafkaPort } from '../../kafka/port.js';
import { ensureTopics, type EnsureTopicsResult } from '../../kafka/topics.js';
import { createLogger } from '../../observability/logger.js';
import { loadTopology } from '../../topology/load.js';
import { positiveInteger } from '../option-parsers.js';
import { maxMessageBytes } from '../../kafka/message-size.js';
import type { Plan, TopicPurpose } from '../../topology/plan.js';

/**
 * Creates every topic the plan needs that does not exist: derived topics, sink and
 * compensation topics, and a missing source topic (with the plan's partition count), with
 * `replicationFactor` or else the broker's default.
 * Refuses (exit 2), before creating anything, when an existing derived topic has fewer
 * partitions than the plan needs: adding partitions would move keys and break per-key order,
 * so that stays a human decision.
 */
export async function createPlanTopics(plan: Plan, kafka: KafkaPort, replicationFactor?: number): Promise<EnsureTopicsResult> {
  const config = await derivedTopicConfig(plan, kafka);
  return ensureTopics(
    kafka,
    plan.topics.map((t) => ({
      name: t.name,
      partitions: t.purpose === 'source' ? plan.partitions : t.partitions,
      ...(replicationFactor !== undefined && { replicationFactor }),
      ...(t.derived && config.get(t.purpose) !== undefined && { config: config.get(t.purpose) }),
    })),
    (tooFewPartitions) => {
      // Only flowyard's own (derived) topics: source, sink and compensation topics belong to the
      // user, and a sink's `partitions` is only what a missing topic is created with.
      const tooFew = tooFewPartitions.filter((t) => plan.topics.find((p) => p.name === t.name)?.derived === true);
      if (tooFew.length === 0) return;
      throw new InvalidInputError(
        `${tooFew.length} topic(s) have fewer partitions than plan ${plan.id} needs`,
        tooFew.map(
          (t) =>
            `topic ${t.name} has ${t.has} partitions, plan ${plan.id} needs ${t.needs}: increase it yourself (kafka-topics --alter --partitions ${t.needs}; keys will move partitions) or lower \`partitions\` in the topology; nothing was created`,
        ),
      );
    },
  );
}

/** Room for what flowyard adds to an event's value: its headers on copies, the error headers on dead letters. */
const HEADROOM_BYTES = 64 * 1024;

/**
 * `max.message.bytes` for the derived topics a plan creates, from its source topics: when a
 * source topic allows larger records than the broker's default, every topic an event travels
 * through must too, or one large event stalls its partition at the first hop. Destination
 * inputs, the DLQ, the completions and the sequencer output all carry the value as it came plus
 * headers. Only topics created now get it; existing ones are left as they are.
 */
async function derivedTopicConfig(plan: Plan, kafka: KafkaPort): Promise<Map<TopicPurpose, Record<string, string>>> {
  const limits = await maxMessageBytes(kafka, plan.source.topics);
  const own = [...limits.values()].filter((l) => l.own).map((l) => l.bytes);
  if (own.length === 0) return new Map();
  const source = Math.max(...own);
  const plain = { 'max.message.bytes': String(source + HEADROOM_BYTES) };
  return new Map<TopicPurpose, Record<string, string>>([
    ['destination-input', plain],
    ['compensation-input', plain],
    ['dlq', plain],
    ['sequencer-output', plain],
    ['completions', plain],
  ]);
}

export function register(program: Command): void {
  const topics = program.command('topics').description('Manage the Kafka topics a topology needs');
  topics
    .command('create')
    .description('Create the topics of a topology\'s plan on the broker (KAFKA_BROKERS); safe to repeat')
    .argument('<file>', 'topology YAML file')
    .option('--replication-factor <n>', "replicas of each topic it creates (default: the broker's default.replication.factor)", positiveInteger('--replication-factor'))
    .action(async (file: string, options: { replicationFactor?: number }) => {
      const env = loadEnv();
      const { plan } = await loadTopology(file);
      const logger = createLogger(env.logLevel === 'info' ? 'warn' : env.logLevel);
      const result = await createPlanTopics(plan, await createKafka(env.kafka, logger, 'topics'), options.replicationFactor);
      for (const name of result.created) process.stdout.write(`created  ${name}\n`);
      for (const name of result.existing) process.stdout.write(`exists   ${name}\n`);
      process.stdout.write(`plan ${plan.id}: ${result.created.length} created, ${result.existing.length} already existed\n`);
    });
}
