/**
 * What every @platformatic/kafka client of a process shares: the connection options (brokers,
 * TLS, SASL, timeouts) from KafkaConnection, the codec check, the configuration mistakes that
 * become an InvalidInputError (exit 2), and what an error of the library means (classify).
 */
import { AuthenticationError, compressionsAlgorithms, GenericError, type BaseOptions, type SASLMechanismValue } from '@platformatic/kafka';
import type { KafkaConnection, KafkaSasl } from '../../config/env.js';
import { tlsOptions } from '../../config/tls-check.js';
import { InvalidInputError } from '../../errors.js';
import { DEFAULT_COMPRESSION, type Compression } from '../compression.js';
import type { KafkaErrorKind } from '../port.js';
import { kafkaTlsCheck } from '../tls-check.js';


const SASL_MECHANISMS: Readonly<Record<KafkaSasl['mechanism'], SASLMechanismValue>> = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
};

export function baseOptions(connection: KafkaConnection, clientId: string): BaseOptions {
  const options: BaseOptions = {
    clientId,
    bootstrapBrokers: [...connection.brokers],
    connectTimeout: 5_000, // ms; a broker that does not accept within 5 s is down, not slow
    requestTimeout: 30_000, // ms; a fetch waits at most 250 ms, a produce acks=all within the broker's own timeout
    timeout: 30_000, // ms; the produce timeout the broker gets, as kafkajs' default
    retries: 8,
    retryDelay: 250, // ms between the library's own retries of a retriable error
    // Topic creation is the admin's job (flowyard checks and creates its topics at start).
    autocreateTopics: false,
  };
  if (connection.tls) options.tls = tlsOptions(connection.tls);
  if (connection.sasl) {
    const { mechanism, username, password } = connection.sasl;
    options.sasl = { mechanism: SASL_MECHANISMS[mechanism], username, password };
  }
  return options;
}

/** The codec flowyard's producers write with; refuses (exit 2) one this Node cannot write. */
export function producerCompression(connection: KafkaConnection): Compression {
  const compression = connection.compression ?? DEFAULT_COMPRESSION;
  // The library compresses in-process (zlib for gzip and zstd, WebAssembly for snappy and lz4):
  // only zstd depends on the Node version (zlib's zstd arrived in Node 22.15).
  if (compression !== 'none' && !compressionsAlgorithms[compression].available) {
    const message = `environment: KAFKA_COMPRESSION=${compression}: this Node.js ${process.version} has no ${compression} codec (KAFKA_CLIENT=platformatic compresses with node:zlib); choose another codec`;
    throw new InvalidInputError(message, [message]);
  }
  return compression;
}

/**
 * The error among `error`, its `errors` and its `cause`s (any depth) whose `property` is `value`.
 * The library's findErrorBy walks `errors` only; a refused SASL login sits in a NetworkError's cause.
 */
export function findIn(error: unknown, property: string, value: unknown, depth = 0): Error | undefined {
  if (!(error instanceof Error) || depth > 8) return undefined;
  if ((error as unknown as Record<string, unknown>)[property] === value) return error;
  const nested = error instanceof AggregateError ? (error.errors as unknown[]) : [];
  for (const inner of [...nested, error.cause]) {
    const found = findIn(inner, property, value, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Turns a refused SASL login or TLS handshake into an InvalidInputError naming the settings, the
 * first time a client of the process connects: the library retries both like network errors,
 * and its messages name neither variable. Later connects skip the TLS check once it passed.
 */
export class ConnectionCheck {
  private tlsChecked = false;

  constructor(private readonly connection: KafkaConnection) {}

  /** Runs `connect` (a client's first request); rethrows its error explained when it is a configuration mistake. */
  async run<T>(connect: () => Promise<T>): Promise<T> {
    const { brokers, tls, sasl } = this.connection;
    if (tls && !this.tlsChecked) this.tlsChecked = await kafkaTlsCheck(brokers, tls);
    try {
      return await connect();
    } catch (error) {
      throw (sasl && saslFailure(error, brokers, sasl)) || error;
    }
  }
}

/** The InvalidInputError for a SASL refusal by the broker, or undefined for any other error. */
export function saslFailure(error: unknown, brokers: readonly string[], sasl: KafkaSasl): InvalidInputError | undefined {
  if (!(error instanceof Error)) return undefined;
  const at = `Kafka at ${brokers.join(',')}`;
  const cause = explain(error);
  let message: string | undefined;
  if (findIn(error, 'apiId', 'UNSUPPORTED_SASL_MECHANISM')) {
    message = `environment: KAFKA_SASL_MECHANISM=${sasl.mechanism}: ${at} does not offer this SASL mechanism (${cause}); use one its listener enables`;
  } else if (findIn(error, 'apiId', 'ILLEGAL_SASL_STATE')) {
    message =
      `environment: KAFKA_SASL_MECHANISM=${sasl.mechanism}: ${at} does not take SASL on this listener (${cause}); ` +
      'point KAFKA_BROKERS at its SASL listener or unset KAFKA_SASL_MECHANISM';
  } else if (findIn(error, 'apiId', 'SASL_AUTHENTICATION_FAILED') || findIn(error, 'code', AuthenticationError.code)) {
    message =
      `environment: KAFKA_SASL_PASSWORD: ${at} refused SASL ${sasl.mechanism} authentication for KAFKA_SASL_USERNAME=${JSON.stringify(sasl.username)} ` +
      `(${cause}); check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) and KAFKA_SASL_MECHANISM`;
  }
  return message === undefined ? undefined : new InvalidInputError(message, [message]);
}

/** The library nests the broker's answer (MultipleErrors of retries, ResponseError of partitions): the innermost messages say what happened. */
export function explain(error: Error): string {
  const messages = new Set<string>();
  const walk = (e: unknown, depth: number): void => {
    if (!(e instanceof Error) || depth > 6) return;
    const nested = e instanceof AggregateError ? (e.errors as unknown[]) : [];
    const server = (e as { serverErrorMessage?: unknown }).serverErrorMessage;
    if (nested.length === 0 && e.cause === undefined) messages.add(typeof server === 'string' && server !== '' ? `${e.message}: ${server}` : e.message);
    for (const inner of nested) walk(inner, depth + 1);
    walk(e.cause, depth + 1);
  };
  walk(error, 0);
  return messages.size === 0 ? error.message : [...messages].join('; ');
}

/** Broker answers that mean a record batch can never be written to its topic. */
const TOO_LARGE = ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE'];
/**
 * Broker answers the library marks not retriable that still heal on their own: another attempt
 * (a new transaction, a new producer id) succeeds once the broker or the group moved on.
 */
const HEALING = ['CONCURRENT_TRANSACTIONS', 'COORDINATOR_LOAD_IN_PROGRESS', 'REBALANCE_IN_PROGRESS', 'UNKNOWN_PRODUCER_ID', 'OUT_OF_ORDER_SEQUENCE_NUMBER'];

/** KafkaPort.classify for errors of @platformatic/kafka. */
export function classify(error: unknown): KafkaErrorKind {
  if (!(error instanceof Error)) return 'permanent';
  if (TOO_LARGE.some((id) => findIn(error, 'apiId', id))) return 'too-large';
  if (error instanceof InvalidInputError) return 'permanent';
  if (findIn(error, 'code', AuthenticationError.code)) return 'permanent';
  if (HEALING.some((id) => findIn(error, 'apiId', id))) return 'retriable';
  // The library turns the broker's UNKNOWN_TOPIC_OR_PARTITION into a UserError that keeps only this
  // message; a topic created a moment ago is unknown to a broker for a moment, as kafkajs marks it.
  if (/^Unknown topic /.test(findIn(error, 'code', 'PLT_KFK_USER')?.message ?? '')) return 'retriable';
  // Network errors, timeouts and broker answers such as NOT_LEADER_OR_FOLLOWER carry canRetry.
  if (findIn(error, 'canRetry', true)) return 'retriable';
  if (findIn(error, 'code', 'PLT_KFK_TIMEOUT') || findIn(error, 'code', 'PLT_KFK_NETWORK')) return 'retriable';
  // Not the library's: a closed socket, a DNS failure of a broker being replaced.
  if (!GenericError.isGenericError(error) && /^E[A-Z]+$/.test(String((error as { code?: unknown }).code))) return 'retriable';
  return 'permanent';
}
