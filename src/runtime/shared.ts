/**
 * The clients one process shares between all its roles and plans: one Kafka client, one
 * Redis connection, one metrics registry, one logger.
 */
import type { Registry } from 'prom-client';
import type { Env } from '../config/env.js';
import { createKafkaClient, type KafkaClient } from '../kafka/client.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics, createRegistry } from '../observability/metrics.js';
import { createRedis, type Redis } from '../redis/connection.js';

export interface SharedClients {
  readonly env: Env;
  readonly kafka: KafkaClient;
  readonly redis: Redis;
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export async function createSharedClients(env: Env, logger: Logger = createLogger(env.logLevel)): Promise<SharedClients> {
  const registry = createRegistry();
  const redis = createRedis(env.redis, logger);
  await redis.connect();
  return { env, kafka: createKafkaClient(env.kafka, logger), redis, registry, metrics: new Metrics(registry), logger };
}

export async function closeSharedClients(shared: SharedClients): Promise<void> {
  await shared.redis.quit().catch(() => shared.redis.disconnect());
}
