/**
 * The topology file format (docs/architecture.md §3, v1), defined once as a TypeBox schema: the TS
 * types come from `Static<>`, ajv validates with it, and `schemas/topology.schema.json`
 * is generated from it (see `publishedTopologySchema`).
 */
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import type { SinkConfig } from './plan.js';
import { sinkSpecs, sinkTypes } from '../sinks/registry.js';
import { StringEnum, FIELD_PATH_PATTERN, KafkaTopicName, ResourceName } from './names.js';

/**
 * Defaults the loader fills in, also published as `default` in the JSON Schema. The
 * planner reads the same values, so a topology that spells a default out and one that
 * leaves it away compile to the same plan (and plan id).
 */
export const DEFAULTS = {
  format: 'json',
  /** Partitions of derived topics. */
  partitions: 12,
  timeoutMs: 5_000,
  retry: {
    maxAttempts: 5,
    initialDelayMs: 100,
    maxDelayMs: 10_000, // 10 s: beyond that a dead letter plus replay serves better than waiting
    budgetRatio: 0.2,
    budgetWindowMs: 10_000,
  },
  concurrency: 16,
  ordering: 'key',
  circuitBreaker: {
    failureRatio: 0.5,
    minRequests: 20,
    windowMs: 10_000,
    halfOpenAfterMs: 30_000,
  },
  /** 25 h: a day of retries and replays plus an hour, so a late redelivery is still recognised. */
  dedupTtlSeconds: 90_000,
  sequencerHoldMs: 2_000,
} as const;

const HOUR_MS = 3_600_000;

function FieldPath(description: string): ReturnType<typeof Type.String> {
  return Type.String({ pattern: FIELD_PATH_PATTERN, minLength: 1, description });
}

/**
 * `sink` and `compensate`: one of the registered sink configs, chosen by `type`. ajv's
 * `discriminator` checks `type` first and then only the matching spec, so errors name the
 * field of that sink instead of listing every branch.
 */
function SinkConfigSchema(description: string): TUnsafe<SinkConfig> {
  return Type.Unsafe<SinkConfig>({
    type: 'object',
    description: `${description} Known types: ${sinkTypes().join(', ')}.`,
    discriminator: { propertyName: 'type' },
    oneOf: sinkSpecs.map((spec) => spec.configSchema),
  });
}

const SourceSchema = Type.Object(
  {
    topic: Type.Optional(KafkaTopicName({ description: 'The topic to read. Use `topics` for several.' })),
    topics: Type.Optional(
      Type.Array(KafkaTopicName({ description: 'A topic to read.' }), {
        minItems: 1,
        uniqueItems: true,
        description: 'Several topics to read, instead of `topic`.',
      }),
    ),
    format: Type.Optional(
      StringEnum(['json', 'avro'] as const, { default: DEFAULTS.format, description: 'Encoding of the source values.' }),
    ),
    schema: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Avro only (required then): a file under schemas/ (e.g. order-event for schemas/order-event.avsc) or a registry subject.',
      }),
    ),
    // No `default` on purpose: defaults are filled into every topology, and the plan id
    // hashes the source; JSON topologies would change id for a setting they never use.
    subjectNameStrategy: Type.Optional(
      StringEnum(['topic-name', 'record-name', 'topic-record-name'] as const, {
        description:
          'Avro with a schema registry: the subjects `flowyard schemas push` and `schemas check` use, as Confluent serializers name them. topic-name (when left out): <topic>-value; record-name: the record full name; topic-record-name: <topic>-<record full name>.',
      }),
    ),
    key: FieldPath('Field path of the partition key, e.g. customerId or customer.id. Events with the same key form a causal group and stay in order.'),
    id: FieldPath('Field path of the event id, the idempotency key: an event seen twice is written once.'),
  },
  { additionalProperties: false, description: 'Where events come from.' },
);

const RetrySchema = Type.Object(
  {
    maxAttempts: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, default: DEFAULTS.retry.maxAttempts, description: 'Total attempts including the first; then the event goes to the dead-letter topic.' }),
    ),
    initialDelayMs: Type.Optional(
      Type.Integer({ minimum: 0, maximum: HOUR_MS, default: DEFAULTS.retry.initialDelayMs, description: 'Delay before the first retry; doubles each attempt, with full jitter.' }),
    ),
    maxDelayMs: Type.Optional(
      Type.Integer({ minimum: 0, maximum: HOUR_MS, default: DEFAULTS.retry.maxDelayMs, description: 'Upper bound of the delay between two attempts.' }),
    ),
    budgetRatio: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: DEFAULTS.retry.budgetRatio, description: 'Retries may not exceed this share of first attempts over budgetWindowMs, so a failing destination is not hammered.' }),
    ),
    budgetWindowMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: HOUR_MS, default: DEFAULTS.retry.budgetWindowMs, description: 'Window of the retry budget.' }),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Retries in memory, blocking only the failing key. Exponential backoff with full jitter.',
  },
);

const CircuitBreakerSchema = Type.Object(
  {
    failureRatio: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: DEFAULTS.circuitBreaker.failureRatio, description: 'Open when failures / requests in the window reach this ratio...' }),
    ),
    minRequests: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, default: DEFAULTS.circuitBreaker.minRequests, description: '...and at least this many requests were seen in the window.' }),
    ),
    windowMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: HOUR_MS, default: DEFAULTS.circuitBreaker.windowMs, description: 'Sliding window the ratio is computed over.' }),
    ),
    halfOpenAfterMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: HOUR_MS, default: DEFAULTS.circuitBreaker.halfOpenAfterMs, description: 'After this long open, let a probe through (half-open).' }),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: "An open circuit pauses the destination's partitions; nothing is dropped.",
  },
);

const DestinationSchema = Type.Object(
  {
    name: ResourceName({ description: 'Unique within the topology; names the input topic <name>.<mode>.<destination> and the consumer group <name>.<destination>.' }),
    sink: SinkConfigSchema('Where this destination writes.'),
    after: Type.Optional(
      Type.Array(ResourceName({ description: 'A destination this one must follow.' }), {
        uniqueItems: true,
        description: 'dag mode only: destinations this one must follow. Several names make a join, released once all of them completed.',
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600_000, default: DEFAULTS.timeoutMs, description: 'Timeout of one write attempt.' }),
    ),
    retry: Type.Optional(RetrySchema),
    concurrency: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, default: DEFAULTS.concurrency, description: 'Max writes in flight for this destination (per worker process).' }),
    ),
    ordering: Type.Optional(
      StringEnum(['key', 'none'] as const, {
        default: DEFAULTS.ordering,
        description: 'key: one write in flight per causal key, in source order. none: any order (a sequencer can restore it).',
      }),
    ),
    circuitBreaker: Type.Optional(CircuitBreakerSchema),
    compensate: Type.Optional(
      SinkConfigSchema('Optional: where to write the undo of a successful write when another branch of the same event failed.'),
    ),
  },
  { additionalProperties: false, description: 'A place every event must reach.' },
);

const SequencerSchema = Type.Object(
  {
    output: KafkaTopicName({ description: 'Topic the sequencer writes completed events to, per causal group in seq order.' }),
    holdMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600_000, default: DEFAULTS.sequencerHoldMs, description: 'How long an out-of-order event waits for the gap before it; then the gap is skipped.' }),
    ),
  },
  { additionalProperties: false, description: 'Restore per-causal-group order after parallel work.' },
);

const topologyProperties = {
  name: ResourceName({ description: 'Prefix of every derived topic and consumer group.' }),
  source: SourceSchema,
  mode: StringEnum(['cascade', 'fanout', 'dag'] as const, {
    description: 'cascade: destinations one after another, in list order. fanout: all in parallel. dag: each destination names what it must follow in `after`.',
  }),
  partitions: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 10_000, default: DEFAULTS.partitions, description: 'Partitions of the topics flowyard derives (destination inputs, completions, dead letters, sequencer output).' }),
  ),
  destinations: Type.Array(DestinationSchema, {
    minItems: 1,
    maxItems: 64,
    description: 'Where every event must go. In cascade mode the list order is the chain.',
  }),
  dedup: Type.Optional(
    Type.Object(
      {
        ttlSeconds: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 31_536_000,
            default: DEFAULTS.dedupTtlSeconds,
            description: 'How long an event id is remembered in Redis. Keep it above the longest retry and replay window: an id forgotten earlier can be written twice.',
          }),
        ),
      },
      { additionalProperties: false, default: {}, description: 'Idempotency keys in Redis.' },
    ),
  ),
  ordering: Type.Optional(
    Type.Object({ sequencer: SequencerSchema }, { additionalProperties: false, description: 'Order of the completed events.' }),
  ),
  rollout: Type.Optional(
    Type.Object(
      {
        to: StringEnum(['cascade', 'fanout', 'dag'] as const, { description: 'Mode of the second plan; must differ from `mode`.' }),
        percent: Type.Number({ minimum: 0, maximum: 100, description: 'Share of keys (stable hash buckets) that run in the `to` plan. Raising it moves more keys, each only when it has nothing in flight.' }),
      },
      { additionalProperties: false, description: 'Run a share of the keys in another mode, to compare both shapes on live traffic.' },
    ),
  ),
  shadow: Type.Optional(
    Type.Object(
      {
        mode: Type.Optional(
          StringEnum(['cascade', 'fanout', 'dag'] as const, { description: "Mode of the shadow plan (default: the topology's own mode)." }),
        ),
        destinations: Type.Optional(
          Type.Record(
            Type.String(),
            // No `default`s at this level: a setting left out keeps the live destination's value.
            Type.Object(
              {
                timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: 'Timeout of one write attempt in the shadow.' })),
                retry: Type.Optional(Type.Object(RetrySchema.properties, { additionalProperties: false, description: 'Replaces the retry settings as a whole (fields left out take their defaults).' })),
                concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Max writes in flight in the shadow.' })),
                ordering: Type.Optional(StringEnum(['key', 'none'] as const, { description: 'Ordering in the shadow.' })),
                circuitBreaker: Type.Optional(
                  Type.Object(CircuitBreakerSchema.properties, { additionalProperties: false, description: 'Replaces the circuit breaker settings as a whole.' }),
                ),
              },
              { additionalProperties: false, description: "Settings of this destination in the shadow plan; the rest are the live destination's." },
            ),
            { description: 'Per destination name: settings that differ in the shadow plan.' },
          ),
        ),
        dryRun: Type.Optional(
          Type.Record(
            Type.String(),
            SinkConfigSchema('Where the shadow writes this destination instead of its sink (default: a kafka sink to <name>-shadow.dryrun.<destination>), e.g. an http sink to a recorder.'),
            { description: 'Per destination name: the dry-run destination of the shadow.' },
          ),
        ),
      },
      {
        additionalProperties: false,
        description:
          "A second plan that reads the same source with its own consumer groups and topics (<name>-shadow.*) and writes only to dry-run destinations, to compare another mode or settings on live traffic: `flowyard shadow report`.",
      },
    ),
  ),
  dlq: Type.Optional(
    Type.Object(
      { topic: KafkaTopicName({ description: 'Dead-letter topic (default <name>.dlq).' }) },
      { additionalProperties: false, description: 'Where events go that could not be delivered, with the reason in headers.' },
    ),
  ),
};

/** Identifier of the published schema; also its `$id`. */
export const TOPOLOGY_SCHEMA_ID = 'urn:flowyard:topology:v1';

/** The topology schema, with the metadata editors show. */
export const TopologySchema = Type.Object(topologyProperties, {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: TOPOLOGY_SCHEMA_ID,
  title: 'flowyard topology (v1)',
  description: 'Deliver every event of a Kafka topic to several destinations, in cascade, fanout or dag mode.',
  additionalProperties: false,
});

/**
 * A topology as written (fields with defaults are optional). `loadTopology` returns one
 * with the defaults filled in; `compile` accepts either.
 */
export type Topology = Static<typeof TopologySchema>;
export type TopologyDestination = Topology['destinations'][number];
export type TopologySource = Topology['source'];

/**
 * The JSON Schema published at schemas/topology.schema.json: the TypeBox schema as plain
 * JSON (TypeBox's symbol keys do not survive `JSON.stringify`).
 */
export function publishedTopologySchema(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(TopologySchema as TSchema)) as Record<string, unknown>;
}
