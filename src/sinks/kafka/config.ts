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
  summary: 'Write each event to a Kafka topic, keyed by the causal key, value and headers passed through.',
  configSchema: KafkaSinkConfigSchema,
  defaults: { partitions: 'the topology `partitions`' },
  examples: [
    { type: 'kafka', topic: 'orders.ledger' },
    { type: 'kafka', topic: 'ledger.reversals', partitions: 6 },
  ],
  idempotent: false,
  delivery:
    'At least once. An idempotent producer (acks=all) means broker retries never duplicate a record, and the done-key stops a redelivered event; ' +
    'but a worker that crashes after the produce and before recording the done-key produces the event again on redelivery (Kafka cannot tell the repeat), ' +
    'so readers that must count once drop repeats by the `fy-event-id` header. ' +
    'A topic that does not exist stops the worker at start. Errors kafkajs marks non-retriable at their root (MESSAGE_TOO_LARGE, authorisation, an invalid record) are permanent; ' +
    'every other produce error is retriable, also when kafkajs gave up its own retries on a retriable cause (a broker unreachable, a leader moving).',
};

/** The Kafka topic a sink config writes to, or undefined when it is not a kafka sink. */
export function kafkaSinkTopic(config: unknown): { topic: string; partitions?: number } | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const { type, topic, partitions } = config as Record<string, unknown>;
  if (type !== 'kafka' || typeof topic !== 'string') return undefined;
  return typeof partitions === 'number' ? { topic, partitions } : { topic };
}
