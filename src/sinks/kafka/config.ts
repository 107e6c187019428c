/**
 * Configuration of the `kafka` sink: write each event to a Kafka topic, keyed by the
 * causal key, with the original value and flowyard's headers.
 */
import { Type, type Static } from '@sinclair/typebox';
import { KafkaTopicName } from '../../topology/names.js';
import type { SinkSpec } from '../define.js';

export const KafkaSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('kafka', { description: 'Write to a Kafka topic.' }),
    topic: KafkaTopicName({ description: 'Topic to write to. Must differ from the source topics and every other output topic.' }),
    partitions: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        description: 'Partitions `flowyard topics create` gives the topic if it does not exist (default: the topology `partitions`).',
      }),
    ),
  },
  { additionalProperties: false, title: 'kafka sink', description: 'Write each event to a Kafka topic, keyed by the causal key.' },
);

export type KafkaSinkConfig = Static<typeof KafkaSinkConfigSchema>;

export const kafkaSinkSpec: SinkSpec<typeof KafkaSinkConfigSchema> = {
  type: 'kafka',
  summary: 'Write each event to a Kafka topic, keyed by the causal key: the value as it came in, flowyard\'s `fy-*` headers and the source record\'s other headers byte-exact.',
  configSchema: KafkaSinkConfigSchema,
  defaults: { partitions: 'the topology `partitions`' },
  examples: [
    { type: 'kafka', topic: 'orders.ledger' },
    { type: 'kafka', topic: 'ledger.reversals', partitions: 6 },
  ],
  idempotent: false,
  delivery:
    'Exactly once for readers with isolation.level=read_committed. `flowyard run` writes kafka sinks on the transactional path ' +
    '(docs/architecture.md §6): per consumed batch of one input partition, one Kafka transaction holds the copies, the hand-on copies, ' +
    'the completions, the dead letters and the input offsets, so a redelivery, a crash mid-batch, a broker restart or a Redis that lost ' +
    'its keys never commits a copy twice (read_uncommitted readers also see the records of aborted transactions). ' +
    'A sink topic that does not exist stops the worker at start. The one permanent error is a record larger than a topic\'s max.message.bytes: it is dead-lettered `oversized` with the first 64 KiB of its value, `fy-truncated` (its original size) and `fy-origin`. ' +
    'Every other failure (broker unreachable, fenced, unknown topic, authorisation) is retriable: the transaction is aborted and its batch retried with backoff, never dead-lettered.',
};

/** The Kafka topic a sink config writes to, or undefined when it is not a kafka sink. */
export function kafkaSinkTopic(config: unknown): { topic: string; partitions?: number } | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const { type, topic, partitions } = config as Record<string, unknown>;
  if (type !== 'kafka' || typeof topic !== 'string') return undefined;
  return typeof partitions === 'number' ? { topic, partitions } : { topic };
}
