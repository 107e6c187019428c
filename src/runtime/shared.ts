/**
 * The clients one process shares between all its roles and plans: one Kafka client, one
 * Redis connection, one metrics registry, one logger.
 */
import type { Registry } from 'prom-client';
import type { Env } from '../config/env.js';
import { createKafka } from '../kafka/client.js';
import type { KafkaPort } from '../kafka/port.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics, createRegistry } from '../observability/metrics.js';
import { createRedis, waitForRedis, type Redis } from '../redis/connection.js';

export interface SharedClients {
  readonly env: Env;
  readonly kafka: KafkaPort;
  readonly redis: Redis;
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** Connected clients: waits for Redis up to `env.startTimeoutMs` (see connectSharedClients). */
export async function createSharedClients(env: Env, logger: Logger = createLogger(env.logLevel), signal?: AbortSignal): Promise<SharedClients> {
  const shared = await openSharedClients(env, logger);
  await connectSharedClients(shared, signal);
  return shared;
}

/** The clients before anything connects (the Kafka port's clients connect when used; Redis in connectSharedClients). */
export async function openSharedClients(env: Env, logger: Logger = createLogger(env.logLevel)): Promise<SharedClients> {
  const registry = createRegistry();
  return { env, kafka: await createKafka(env.kafka, logger), redis: createRedis(env.redis, logger), registry, metrics: new Metrics(registry), logger };
}

/**
 * Connects Redis; while it is down, waits and logs a line per try, up to `env.startTimeoutMs`
 * (then a RuntimeFailure naming it). `signal` ends the wait on shutdown (AbandonedError).
 */
export async function connectSharedClients(shared: SharedClients, signal?: AbortSignal): Promise<void> {
  await waitForRedis(shared.redis, shared.env.redis, { timeoutMs: shared.env.startTimeoutMs, logger: shared.logger, ...(signal && { signal }) });
}

export async function closeSharedClients(shared: SharedClients): Promise<void> {
  // QUIT on a connection that is not ready would wait in the offline queue for a Redis that may never come.
  if (shared.redis.status !== 'ready') shared.redis.disconnect();
  else await shared.redis.quit().catch(() => shared.redis.disconnect());
}
