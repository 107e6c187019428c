import kafkajs, { type KafkaConfig, type SASLOptions, type logCreator } from 'kafkajs';
import type { KafkaConnection } from '../config/env.js';
import type { Logger } from '../observability/logger.js';

const { Kafka, logLevel } = kafkajs;
export type KafkaClient = InstanceType<typeof Kafka>;

/**
 * The one place that constructs a Kafka client. Everything else goes through this
 * module's small surface (client, topics, consumer, producer), so another client with a
 * KafkaJS-compatible API can be swapped in and measured.
 */
export function createKafkaClient(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): KafkaClient {
  const config: KafkaConfig = {
    clientId: clientIdSuffix ? `${connection.clientId}-${clientIdSuffix}` : connection.clientId,
    brokers: [...connection.brokers],
    connectionTimeout: 5_000, // ms; a broker that does not accept within 5 s is down, not slow
    requestTimeout: 30_000, // ms; kafkajs default
    retry: { initialRetryTime: 200, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger),
  };
  if (connection.tls) {
    config.ssl = {
      rejectUnauthorized: true,
      ...(connection.tls.ca && { ca: [connection.tls.ca] }),
      ...(connection.tls.cert && { cert: connection.tls.cert }),
      ...(connection.tls.key && { key: connection.tls.key }),
    };
  }
  if (connection.sasl) {
    const { mechanism, username, password } = connection.sasl;
    config.sasl = { mechanism, username, password } as SASLOptions;
  }
  return new Kafka(config);
}

/** Routes kafkajs' own logs into pino so there is one JSON log stream. */
function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }) => {
      const { message, ...rest } = log;
      if (level <= logLevel.ERROR) child.error(rest, message);
      else if (level === logLevel.WARN) child.warn(rest, message);
      else if (level === logLevel.INFO) child.info(rest, message);
      else child.debug(rest, message);
    };
}
