import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../config/env.js';
import type { Logger } from '../observability/logger.js';

export type { Redis } from 'ioredis';

/**
 * A Redis connection from the validated environment. Commands issued while Redis is
 * down queue and are retried on reconnect (ioredis default); callers that must not wait
 * forever put their own timeout around them.
 */
export function createRedis(connection: RedisConnection, logger: Logger, name = 'flowyard'): Redis {
  const options: RedisOptions = {
    connectionName: name,
    lazyConnect: true,
    maxRetriesPerRequest: null, // keep commands across a Redis restart instead of failing them after 20 tries
    enableAutoPipelining: true, // batches commands issued in the same tick into one round trip
    retryStrategy: (times) => Math.min(times * 200, 2_000), // ms between reconnects
    ...(connection.password && { password: connection.password }),
    ...(connection.tls && {
      tls: {
        ...(connection.tls.ca && { ca: connection.tls.ca }),
        ...(connection.tls.cert && { cert: connection.tls.cert }),
        ...(connection.tls.key && { key: connection.tls.key }),
      },
    }),
  };
  const redis = new Redis(connection.url, options);
  let lastError = '';
  redis.on('error', (error: Error) => {
    // ioredis emits the same error on every reconnect attempt; log each distinct one once.
    if (error.message !== lastError) logger.warn({ err: error, component: 'redis' }, 'redis connection error');
    lastError = error.message;
  });
  redis.on('ready', () => {
    if (lastError) logger.info({ component: 'redis' }, 'redis connection restored');
    lastError = '';
  });
  return redis;
}
