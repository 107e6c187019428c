import kafkajs, { type KafkaConfig, type Producer, type SASLOptions, type Transaction, type logCreator } from 'kafkajs';
import type { KafkaConnection, KafkaSasl } from '../../config/env.js';
import { tlsOptions } from '../../config/tls-check.js';
import { InvalidInputError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import { DEFAULT_COMPRESSION } from '../compression.js';
import { compressionType, compressionUnavailable, registerCodecs } from './codecs.js';
import { instrumentConsumer, instrumentProducer } from './instrumentation.js';
import { dropKafkajsNegativeTimeoutWarnings } from './negative-timeout-warning.js';
import { kafkaTlsCheck } from '../tls-check.js';

const { Kafka, logLevel } = kafkajs;
export type KafkaClient = InstanceType<typeof Kafka>;

/**
 * The one place that constructs a kafkajs client; only the kafkajs backend (./index.ts) holds
 * it, everything else asks Kafka through the port.
 */
export function createKafkaClient(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): KafkaClient {
  registerCodecs();
  dropKafkajsNegativeTimeoutWarnings();
  const compression = connection.compression ?? DEFAULT_COMPRESSION;
  const cannotCompress = compressionUnavailable(compression);
  if (cannotCompress !== undefined) {
    const message = `environment: KAFKA_COMPRESSION=${compression}: this process cannot compress with ${compression} (${cannotCompress}); choose another codec`;
    throw new InvalidInputError(message, [message]);
  }
  const config: KafkaConfig = {
    clientId: clientIdSuffix ? `${connection.clientId}-${clientIdSuffix}` : connection.clientId,
    brokers: [...connection.brokers],
    connectionTimeout: 5_000, // ms; a broker that does not accept within 5 s is down, not slow
    requestTimeout: 30_000, // ms; kafkajs default
    retry: { initialRetryTime: 200, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger),
  };
  if (connection.tls) config.ssl = tlsOptions(connection.tls);
  if (connection.sasl) {
    const { mechanism, username, password } = connection.sasl;
    config.sasl = { mechanism, username, password } as SASLOptions;
  }
  const kafka = new Kafka(config);
  // kafkajs keeps one committed-offsets cache per group id per Kafka instance, shared by all its
  // consumers, and a consumer clears the group's whole entry when it joins. Two consumers of one
  // group in a process (an old and a new plan's worker of a destination during a hand-over)
  // then wipe each other's topics and crash in OffsetManager.resolveOffsets. Each consumer gets
  // an instance of its own; it opens its own connections either way.
  kafka.consumer = (...args) => new Kafka(config).consumer(...args);
  if (compression !== 'none') {
    const { producer } = kafka;
    kafka.producer = (...args) => compressing(producer.apply(kafka, args), compressionType(compression));
  }
  if (connection.sasl || connection.tls) explainConfigFailures(kafka, connection);
  const { producer: makeProducer, consumer: makeConsumer } = kafka;
  kafka.producer = (...args) => instrumentProducer(makeProducer.apply(kafka, args));
  kafka.consumer = (...args) => instrumentConsumer(makeConsumer.apply(kafka, args));
  return kafka;
}

/**
 * kafkajs takes the codec per send, not per producer: every send and sendBatch of the producer
 * and of its transactions gets `compression` unless the call names its own.
 */
function compressing(producer: Producer, compression: number): Producer {
  const withCodec = <T extends Pick<Producer, 'send' | 'sendBatch'>>(sender: T): T => {
    const { send, sendBatch } = sender;
    sender.send = (record) => send.call(sender, { compression, ...record });
    sender.sendBatch = (batch) => sendBatch.call(sender, { compression, ...batch });
    return sender;
  };
  const { transaction } = producer;
  producer.transaction = async () => withCodec<Transaction>(await transaction.call(producer));
  return withCodec(producer);
}

type Connectable = { connect(): Promise<void> };

/**
 * A refused SASL login or TLS handshake is a configuration mistake, not an outage: `connect()`
 * of every admin, producer and consumer rejects with an InvalidInputError naming the settings
 * (exit 2), so a user reads which variable to fix instead of a kafkajs stack trace. kafkajs
 * fails SASL at once but retries a TLS handshake error like a network error (about a minute),
 * so with TLS the first connect first checks the handshake itself (kafkaTlsCheck).
 */
function explainConfigFailures(kafka: KafkaClient, connection: KafkaConnection): void {
  const { brokers, sasl, tls } = connection;
  let tlsChecked = false;
  const wrap = <T extends Connectable>(client: T): T => {
    const connect = client.connect.bind(client);
    client.connect = async () => {
      if (tls && !tlsChecked) tlsChecked = await kafkaTlsCheck(brokers, tls);
      return connect().catch((error: unknown) => {
        throw (sasl && saslFailure(error, brokers, sasl)) || error;
      });
    };
    return client;
  };
  const { admin, producer, consumer } = kafka;
  kafka.admin = (...args) => wrap(admin.apply(kafka, args));
  kafka.producer = (...args) => wrap(producer.apply(kafka, args));
  kafka.consumer = (...args) => wrap(consumer.apply(kafka, args));
}

/** The InvalidInputError for a SASL refusal, or undefined for any other error. */
export function saslFailure(error: unknown, brokers: readonly string[], sasl: KafkaSasl): InvalidInputError | undefined {
  if (!(error instanceof Error)) return undefined;
  const type = (error as { type?: unknown }).type;
  const at = `Kafka at ${brokers.join(',')}`;
  let message: string | undefined;
  if (error.name === 'KafkaJSSASLAuthenticationError' || type === 'SASL_AUTHENTICATION_FAILED') {
    message =
      `environment: KAFKA_SASL_PASSWORD: ${at} refused SASL ${sasl.mechanism} authentication for KAFKA_SASL_USERNAME=${JSON.stringify(sasl.username)} ` +
      `(${error.message}); check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) and KAFKA_SASL_MECHANISM`;
  } else if (type === 'UNSUPPORTED_SASL_MECHANISM') {
    message = `environment: KAFKA_SASL_MECHANISM=${sasl.mechanism}: ${at} does not offer this SASL mechanism (${error.message}); use one its listener enables`;
  } else if (type === 'ILLEGAL_SASL_STATE') {
    message =
      `environment: KAFKA_SASL_MECHANISM=${sasl.mechanism}: ${at} does not take SASL on this listener (${error.message}); ` +
      'point KAFKA_BROKERS at its SASL listener or unset KAFKA_SASL_MECHANISM';
  }
  return message === undefined ? undefined : new InvalidInputError(message, [message]);
}

/** Routes kafkajs' own logs into pino so there is one JSON log stream. */
/**
 * Broker answers kafkajs logs at error level although they are part of normal operation and
 * retried at once: a transaction started while the coordinator still writes the previous
 * one's markers, a group coordinator still loading after a start. They go to debug; if the
 * retries run out, the caller's own error says so.
 */
const ROUTINE_RETRIABLE = [
  'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing',
  'The group coordinator is not available',
  'The coordinator is loading and hence can\'t process requests',
];

export function kafkaLogLevel(level: number, log: { readonly message: string; readonly error?: unknown }): number {
  const text = `${log.message} ${typeof log.error === 'string' ? log.error : ''}`;
  return level <= logLevel.ERROR && ROUTINE_RETRIABLE.some((routine) => text.includes(routine)) ? logLevel.DEBUG : level;
}

function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level: reported, log }) => {
      const { message, ...rest } = log;
      const level = kafkaLogLevel(reported, log);
      if (level <= logLevel.ERROR) child.error(rest, message);
      else if (level === logLevel.WARN) child.warn(rest, message);
      else if (level === logLevel.INFO) child.info(rest, message);
      else child.debug(rest, message);
    };
}
