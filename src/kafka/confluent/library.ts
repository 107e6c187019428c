/**
 * Loading @confluentinc/kafka-javascript, and the librdkafka settings every client of the
 * backend shares (brokers, TLS, SASL, logs). The library is a native addon compiled at install
 * time (infra/native-deps.sh, Makefile `install`): it is loaded on first use, so a process that
 * runs the kafkajs backend never needs it, and one that asks for `confluent` where the addon did
 * not build gets an error saying how to build it instead of a dlopen stack.
 */
import { createRequire } from 'node:module';
import type { KafkaConnection } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';

export type Confluent = typeof import('@confluentinc/kafka-javascript');
export type NativeError = import('@confluentinc/kafka-javascript').LibrdKafkaError;
/** librdkafka properties (CONFIGURATION.md); values are strings, numbers, booleans or callbacks. */
export type RdkafkaConfig = Record<string, string | number | boolean | ((...args: never[]) => unknown)>;

const require = createRequire(import.meta.url);
let loaded: Confluent | undefined;

export function confluent(): Confluent {
  if (loaded !== undefined) return loaded;
  try {
    loaded = require('@confluentinc/kafka-javascript') as Confluent;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const message =
      `environment: KAFKA_CLIENT=confluent: @confluentinc/kafka-javascript did not load (${reason}); ` +
      'its native addon is compiled by `make install` (Debian build packages, CKJS_LINKING=dynamic, the headers of the Node that runs flowyard: see README "Kafka clients"), or choose KAFKA_CLIENT=kafkajs';
    throw new InvalidInputError(message, [message]);
  }
  return loaded;
}

const SASL_MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

/** librdkafka's syslog levels (0 emerg .. 7 debug) as pino levels. */
function pinoLevel(severity: number): 'error' | 'warn' | 'info' | 'debug' {
  if (severity <= 3) return 'error';
  if (severity === 4) return 'warn';
  if (severity <= 6) return 'info';
  return 'debug';
}

/**
 * The settings of every producer, consumer and admin of one backend instance: bootstrap
 * brokers, client id, TLS (PEM contents, not paths: loadEnv already read the files), SASL.
 */
export function commonConfig(connection: KafkaConnection, clientId: string): RdkafkaConfig {
  const config: RdkafkaConfig = {
    'bootstrap.servers': connection.brokers.join(','),
    'client.id': clientId,
    // A broker that does not accept within 5 s is down, not slow (as the kafkajs backend).
    'socket.connection.setup.timeout.ms': 5_000,
    // librdkafka's own logs arrive as 'event.log' (see routeLogs) at notice (5) and worse.
    log_level: 5,
  };
  const { tls, sasl } = connection;
  config['security.protocol'] = tls ? (sasl ? 'sasl_ssl' : 'ssl') : sasl ? 'sasl_plaintext' : 'plaintext';
  if (tls?.ca) config['ssl.ca.pem'] = tls.ca;
  if (tls?.cert) config['ssl.certificate.pem'] = tls.cert;
  if (tls?.key) config['ssl.key.pem'] = tls.key;
  if (sasl) {
    config['sasl.mechanisms'] = SASL_MECHANISMS[sasl.mechanism];
    config['sasl.username'] = sasl.username;
    config['sasl.password'] = sasl.password;
  }
  return config;
}

interface LogEvent {
  readonly severity: number;
  readonly fac: string;
  readonly message: string;
}

/** Sends a client's librdkafka logs and errors to pino (component librdkafka), so there is one JSON log stream. */
export function routeLogs(client: { on(event: 'event.log', listener: (event: LogEvent) => void): unknown; on(event: 'event.error', listener: (error: NativeError) => void): unknown }, logger: Logger, role: string): void {
  const child = logger.child({ component: 'librdkafka', client: role });
  client.on('event.log', (event) => child[pinoLevel(event.severity)]({ facility: event.fac }, event.message));
  // Errors librdkafka reports outside any call (a broker down, all brokers down): it retries them itself.
  client.on('event.error', (error) => child.warn({ err: error, code: error.code }, `librdkafka: ${error.message}`));
}
