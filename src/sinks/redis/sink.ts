/**
 * The `redis` sink: XADD to a stream or HSET into a hash, each guarded by a per-event key in
 * one Lua script, so check, write and guard happen atomically in one round trip. One
 * connection per sink: ioredis pipelines the writes in flight over it, so `concurrency`
 * bounds commands in flight, not sockets.
 */
import type { RedisConnection } from '../../config/env.js';
import { createRedis, type Redis } from '../../redis/connection.js';
import { RedisScript } from '../../redis/scripts.js';
import type { SinkConfig } from '../../topology/plan.js';
import type { SinkContext } from '../define.js';
import { SinkError, type Sink, type SinkRecord } from '../sink.js';
import { DEFAULT_GUARD_TTL_SECONDS, DEFAULT_KEY_TEMPLATE, redisConfigProblems, type RedisSinkConfig } from './config.js';
import { UnwritablePayloadError, compileKeyTemplate, type KeyRenderer, guardKey, hashFields, redisErrorKind, streamFields } from './fields.js';
import { untilAborted } from '../../resilience/abort.js';
import { redactUrl } from '../shared.js';

/*
 * Both scripts: KEYS[1] = guard key, KEYS[2] = stream or hash key, ARGV[1] = guard TTL (s).
 * They return 1 after writing, 0 when the guard shows the event was written already.
 * Order matters: Redis does not roll a script back, so the guard is set only after the write
 * succeeded; a failed write (WRONGTYPE, OOM) leaves no guard behind to hide the event later.
 */

/** ARGV[2] = MAXLEN ('' for none), ARGV[3..] = field, value, ... The guard holds the entry id. */
const GUARDED_XADD = new RedisScript<[guard: string, stream: string, ttlSeconds: number, maxLen: string, ...fields: (string | Buffer)[]], number>('fyGuardedXadd', `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local id
if ARGV[2] == '' then
  id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return 1
`, 2);

/** ARGV[2..] = field, value, ... written 100 pairs per HSET (Lua's unpack has a stack limit). */
const GUARDED_HSET = new RedisScript<[guard: string, key: string, ttlSeconds: number, ...fields: string[]], number>('fyGuardedHset', `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local last = #ARGV
local first = 2
while first <= last do
  local upto = math.min(first + 199, last)
  redis.call('HSET', KEYS[2], unpack(ARGV, first, upto))
  first = upto + 1
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1
`, 2);

/** Builds the `redis` sink of a destination; start() checks the config, connects, and checks the stream key's type. */
export function createRedisSink(config: SinkConfig, context: SinkContext): Sink {
  const options = config as RedisSinkConfig;
  const { mode, maxLen, keyPrefix = '', guardTtlSeconds = DEFAULT_GUARD_TTL_SECONDS } = options;
  const connection: RedisConnection = options.url === undefined ? context.env.redis : { url: options.url };
  const where = redactUrl(connection.url);
  let redis: Redis | undefined;
  // Compiled in start(), so a malformed template is a startup error like the other config checks.
  let renderKey: KeyRenderer | undefined;

  return {
    async start() {
      // Config mistakes are startup errors naming the field, before any connection is made.
      const problems = redisConfigProblems(options);
      if (problems.length > 0) throw new Error(`redis sink of destination ${context.destination}: ${problems.join('; ')}`);
      renderKey = compileKeyTemplate(options.keyTemplate ?? DEFAULT_KEY_TEMPLATE);

      const client = createRedis(connection, context.logger, `flowyard-sink-${context.destination}`);
      try {
        await client.connect();
        if (mode === 'stream' && options.stream !== undefined) {
          const type = await client.type(options.stream);
          if (type !== 'none' && type !== 'stream') throw new Error(`key ${options.stream} holds a ${type}, not a stream; choose another \`stream\``);
        }
      } catch (error) {
        client.disconnect();
        throw new Error(`redis sink of destination ${context.destination} cannot start on ${where}: ${(error as Error).message}`, { cause: error });
      }
      redis = client;
    },

    async write(record: SinkRecord, signal: AbortSignal) {
      if (redis === undefined || renderKey === undefined) throw new Error('redis sink written before start()');
      signal.throwIfAborted();
      let dataKey = '';
      try {
        let written: Promise<number>;
        if (mode === 'stream') {
          dataKey = options.stream ?? '';
          written = GUARDED_XADD.run(redis, guardKey(dataKey, record.eventId), dataKey, guardTtlSeconds, maxLen === undefined ? '' : String(maxLen), ...streamFields(record));
        } else {
          dataKey = keyPrefix + renderKey(record);
          written = GUARDED_HSET.run(redis, guardKey(dataKey, record.eventId), dataKey, guardTtlSeconds, ...hashFields(record.payload));
        }
        // A command still queued or in flight when the signal fires may yet run: harmless,
        // its guard makes the retry that follows a no-op.
        if ((await untilAborted(written, signal)) === 0) {
          context.logger.debug({ destination: context.destination, eventId: record.eventId, redisKey: dataKey }, 'redis guard present: event already written');
        }
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof UnwritablePayloadError) throw new SinkError(error.message, 'permanent', { cause: error });
        const target = mode === 'stream' ? `XADD ${dataKey}` : `HSET ${dataKey}`;
        throw new SinkError(`${target} on ${where} failed: ${(error as Error).message}`, redisErrorKind(error), { cause: error });
      }
    },

    async close() {
      const client = redis;
      redis = undefined;
      // quit() waits for replies to commands already sent; disconnect() if Redis is gone.
      await client?.quit().catch(() => client.disconnect());
    },
  };
}
