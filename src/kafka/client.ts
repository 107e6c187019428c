import type { KafkaConnection } from '../config/env.js';
import type { Logger } from '../observability/logger.js';
import { KAFKA_BACKENDS } from './backends.js';
import type { KafkaPort } from './port.js';

/**
 * The Kafka port of the client library `connection.client` names (KAFKA_CLIENT, default
 * platformatic); only that library is loaded. `clientIdSuffix` tells a process's connections apart
 * in the broker's logs and quotas (`<FLOWYARD_CLIENT_ID>-<suffix>`).
 */
export async function createKafka(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): Promise<KafkaPort> {
  const backend = await KAFKA_BACKENDS[connection.client ?? 'platformatic']();
  return backend.createPort(connection, logger, clientIdSuffix);
}
