/**
 * A refused SASL login or TLS handshake is a configuration mistake, not an outage: librdkafka
 * retries both like a broker that is down (a connect fails after its timeout as "broker transport
 * failure", retriable). Before a port's first connection with SASL or TLS configured, this
 * check makes one connection itself and turns such a refusal into an InvalidInputError naming
 * the settings (exit 2), as the other backends do.
 */
import type { KafkaConnection } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import { asError } from './errors.js';
import { commonConfig, confluent } from './library.js';
import { kafkaTlsCheck } from '../tls-check.js';

/** How long the SASL check waits for the broker's metadata before leaving the verdict to the real connections. */
const SASL_CHECK_MS = 10_000;

/** The InvalidInputError for a librdkafka log line reporting a SASL refusal, or undefined. */
export function saslRefusal(line: string, connection: KafkaConnection): InvalidInputError | undefined {
  const { sasl, brokers } = connection;
  if (sasl === undefined) return undefined;
  const at = `Kafka at ${brokers.join(',')}`;
  const cause = line.replace(/^\[thrd:[^\]]*\]: \S+: /, '').replace(/ \(after \d+ms in state \w+.*\)$/, '');
  let message: string | undefined;
  if (/SASL authentication error/i.test(line)) {
    message =
      `environment: KAFKA_SASL_PASSWORD: ${at} refused SASL ${sasl.mechanism} authentication for KAFKA_SASL_USERNAME=${JSON.stringify(sasl.username)} ` +
      `(${cause}); check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) and KAFKA_SASL_MECHANISM`;
  } else if (/mechanism handshake failed/i.test(line)) {
    message = /supported mechanisms:\s*(\(|$)/.test(line)
      ? `environment: KAFKA_SASL_MECHANISM=${sasl.mechanism}: ${at} does not take SASL on this listener (${cause}); point KAFKA_BROKERS at its SASL listener or unset KAFKA_SASL_MECHANISM`
      : `environment: KAFKA_SASL_MECHANISM=${sasl.mechanism}: ${at} does not offer this SASL mechanism (${cause}); use one its listener enables`;
  }
  return message === undefined ? undefined : new InvalidInputError(message, [message]);
}

/** One producer connection watching librdkafka's log for a SASL refusal: true when the broker answered, false when the check gave up. */
async function saslCheck(connection: KafkaConnection, clientId: string): Promise<boolean> {
  const { Producer } = confluent();
  const probe = new Producer({ ...commonConfig(connection, `${clientId}-check`) });
  // librdkafka logs the refusal within a second, but its connect() only gives up after its timeout.
  let refused = false;
  try {
    await new Promise<void>((resolve, reject) => {
      probe.on('event.log', (event: { message: string }) => {
        const refusal = refused ? undefined : saslRefusal(event.message, connection);
        if (refusal === undefined) return;
        refused = true;
        reject(refusal);
      });
      probe.connect({ timeout: SASL_CHECK_MS }, (error) => {
        // After a refusal the connect still ends later: a probe that did connect is closed then.
        if (refused) {
          if (!error) probe.disconnect(() => undefined);
          return;
        }
        // A timeout or an outage is not decided here: the real connections retry it.
        if (error) reject(asError(error, 'checking the SASL login'));
        else resolve();
      });
    });
    return true;
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    return false;
  } finally {
    if (!refused && probe.isConnected()) await new Promise<void>((resolve) => probe.disconnect(() => resolve()));
  }
}

/** Checks a connection's SASL and TLS once per port; a check that found no broker answering runs again next time. */
export class Preflight {
  private passed = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly connection: KafkaConnection,
    private readonly clientId: string,
  ) {}

  async check(): Promise<void> {
    if (this.passed || (this.connection.sasl === undefined && this.connection.tls === undefined)) return;
    this.running ??= this.run().finally(() => (this.running = undefined));
    await this.running;
  }

  private async run(): Promise<void> {
    const { brokers, tls, sasl } = this.connection;
    const tlsAnswered = tls === undefined || (await kafkaTlsCheck(brokers, tls));
    const saslAnswered = sasl === undefined || (await saslCheck(this.connection, this.clientId));
    this.passed = tlsAnswered && saslAnswered;
  }
}
