/**
 * kafkajs as an outside client, for tests that act as a system other than flowyard: an
 * operator's admin tool changing topic configs, a producer or reader of their own. flowyard's
 * own Kafka traffic goes through the port (testKafka); this is built like the kafkajs backend's
 * client (the environment's brokers, SASL, TLS and codecs) so it reads what flowyard writes.
 */
import { createKafkaClient, type KafkaClient } from '../../src/kafka/kafkajs/client.js';
import { testEnv, testLogger } from './servers.js';

export function outsideKafka(clientId = 'outside'): KafkaClient {
  return createKafkaClient(testEnv().kafka, testLogger(), clientId);
}
