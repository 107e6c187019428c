/**
 * The Kafka backends by KAFKA_CLIENT name. Each loads its module (src/kafka/<name>/index.ts)
 * only when chosen, so a process loads the one client library it uses, and a backend whose
 * native library is not installed here does not stop the others from loading.
 */
import type { KafkaConnection } from '../config/env.js';
import type { Logger } from '../observability/logger.js';
import type { KafkaClientName, KafkaPort } from './port.js';

/** What a backend module exports. */
export interface KafkaBackend {
  createPort(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): KafkaPort;
}

export const KAFKA_BACKENDS: Readonly<Record<KafkaClientName, () => Promise<KafkaBackend>>> = {
  kafkajs: () => import('./kafkajs/index.js'),
  confluent: () => import('./confluent/index.js'),
  platformatic: () => import('./platformatic/index.js'),
};

/** What `KAFKA_CLIENT` accepts. */
export const KAFKA_CLIENT_NAMES = Object.keys(KAFKA_BACKENDS) as KafkaClientName[];
