import type { KafkaClientName } from '../../src/kafka/port.js';

/**
 * The Kafka backends the port contract test (test/integration/kafka/port-contract.int.test.ts)
 * runs against the real broker: a backend joins this list when it lands.
 */
export const KAFKA_BACKENDS_UNDER_TEST: readonly KafkaClientName[] = ['kafkajs', 'confluent', 'platformatic'];
