/**
 * Configuration of the `redis` sink: append each event to a stream (XADD) or write its
 * fields into a hash (HSET), once per event id.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { SinkSpec } from '../define.js';
import { StringEnum } from '../../topology/names.js';

/** `stream` (XADD) or `hash` (HSET). */
export const REDIS_SINK_MODES = ['stream', 'hash'] as const;
export type RedisSinkMode = (typeof REDIS_SINK_MODES)[number];

/**
 * Default `guardTtlSeconds`: 25 h, the topology's default dedup TTL (a day of retries and
 * replays plus an hour), so the guard outlives every redelivery the done-key would catch.
 */
export const DEFAULT_GUARD_TTL_SECONDS = 90_000;
/** Default `keyTemplate`: one hash per event. */
export const DEFAULT_KEY_TEMPLATE = '{$eventId}';

/** Literal text and `{...}` placeholders, braces balanced and never empty. */
const KEY_TEMPLATE_PATTERN = '^([^{}]|\\{[^{}]+\\})+$';

/** Schema of a `redis` sink config; its descriptions are the reference docs. */
export const RedisSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('redis', { description: 'Write to Redis.' }),
    mode: StringEnum(REDIS_SINK_MODES, {
      description:
        '`stream`: XADD one entry per event to `stream` (fields: the flowyard headers, eventId, key, value = the original bytes). ' +
        '`hash`: HSET the fields of the JSON payload into the hash named by `keyPrefix` + `keyTemplate` (strings as they are, everything else as JSON text; fields not in the payload are left alone).',
    }),
    url: Type.Optional(
      Type.String({
        pattern: '^rediss?://',
        description:
          'Redis to write to, redis:// or rediss:// (TLS), credentials in the URL (default: the process Redis, REDIS_URL with REDIS_PASSWORD and REDIS_TLS*).',
      }),
    ),
    stream: Type.Optional(Type.String({ minLength: 1, description: 'Stream key to XADD to (required, and only allowed, in stream mode).' })),
    maxLen: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Stream mode: trim the stream to about this many entries (XADD MAXLEN ~; default: no trimming). Trimmed entries are gone for readers, not re-added.',
      }),
    ),
    keyPrefix: Type.Optional(Type.String({ description: "Hash mode: text before the rendered `keyTemplate` (default: '')." })),
    keyTemplate: Type.Optional(
      Type.String({
        pattern: KEY_TEMPLATE_PATTERN,
        description:
          'Hash mode: the hash key after `keyPrefix`, with placeholders {$eventId}, {$key} (the causal key) or {a.field.path} of the payload (default: {$eventId}). ' +
          'A key shared by several events (e.g. order:{orderId}) is overwritten field by field in the order the worker writes them.',
      }),
    ),
    guardTtlSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 31_536_000,
        description:
          'How long the guard key `{<stream or hash key>}:done:<event id>` lives, in seconds (default: 90000 = 25 h). ' +
          'Delivery: one Lua script checks the guard, writes and sets the guard, atomically, so a redelivered event within this TTL adds no second stream entry; ' +
          'a redelivery after it expires (or after Redis lost the guard: no persistence, failover before replication) writes again.',
      }),
    ),
  },
  {
    additionalProperties: false,
    title: 'redis sink',
    description: 'Append each event to a Redis stream, or HSET its payload fields into a hash, once per event id (a guard key set atomically with the write).',
    // The fields a mode needs: ajv reports a missing `stream` by name; the sink also
    // rejects fields of the other mode, which plain JSON Schema cannot say briefly.
    allOf: [
      {
        if: { type: 'object', properties: { mode: { const: 'stream' } }, required: ['mode'] },
        then: { properties: { stream: {} }, required: ['stream'] },
      },
    ],
  },
);

/** A validated `redis` sink config. */
export type RedisSinkConfig = Static<typeof RedisSinkConfigSchema>;

/** The `redis` sink's registry entry. */
export const redisSinkSpec: SinkSpec<typeof RedisSinkConfigSchema> = {
  type: 'redis',
  summary: 'XADD each event to a Redis stream or HSET its payload fields, once per event id via an atomic guard key.',
  configSchema: RedisSinkConfigSchema,
  defaults: { url: 'the process Redis (REDIS_URL)', keyPrefix: "''", keyTemplate: DEFAULT_KEY_TEMPLATE, guardTtlSeconds: DEFAULT_GUARD_TTL_SECONDS, maxLen: 'no trimming' },
  examples: [
    { type: 'redis', mode: 'stream', stream: 'orders.audit' },
    { type: 'redis', mode: 'stream', stream: 'orders.audit', maxLen: 100_000, url: 'redis://cache:6379/1', guardTtlSeconds: 3_600 },
    { type: 'redis', mode: 'hash', keyPrefix: 'order:', keyTemplate: '{orderId}' },
  ],
  idempotent: true,
  delivery:
    'Once per event id within `guardTtlSeconds`: one Lua script checks the guard key `{<key>}:done:<event id>`, writes, and sets the guard, atomically, ' +
    'so a redelivery (also after a worker crash between the write and its done-key) adds no second stream entry. ' +
    'A redelivery after the guard expired, or after Redis lost it (no persistence, failover before replication), writes again. ' +
    'Connection errors, timeouts and the transient replies (LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY, NOREPLICAS, OOM, MOVED, ASK) are retriable; ' +
    'every other reply error (WRONGTYPE, NOPERM, ERR ...) and a payload that cannot be written in the configured shape (a missing key field) are permanent.',
};

/**
 * Problems JSON Schema does not catch: fields of the other mode. Empty when the config is
 * consistent; the sink throws them as a startup error.
 */
export function redisConfigProblems(config: RedisSinkConfig): string[] {
  const problems: string[] = [];
  const streamOnly = (['stream', 'maxLen'] as const).filter((field) => config[field] !== undefined);
  const hashOnly = (['keyPrefix', 'keyTemplate'] as const).filter((field) => config[field] !== undefined);
  if (config.mode === 'stream' && hashOnly.length > 0) problems.push(`${hashOnly.join(', ')} only apply in hash mode; remove them or set mode: hash`);
  if (config.mode === 'hash' && streamOnly.length > 0) problems.push(`${streamOnly.join(', ')} only apply in stream mode; remove them or set mode: stream`);
  if (config.mode === 'stream' && config.stream === undefined) problems.push('stream mode needs `stream`, the stream key to XADD to');
  return problems;
}
