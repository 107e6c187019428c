/**
 * The @confluentinc/kafka-javascript backend of the Kafka port (KAFKA_CLIENT=confluent):
 * librdkafka 2.15 (the copy the package bundles, built as a shared library at install time,
 * see infra/native-deps.sh) through the package's native API. No library type leaves this
 * directory.
 *
 * What it does differently from the kafkajs backend, and what it cannot match:
 * - Codecs: librdkafka reads and writes gzip, snappy, lz4 and zstd itself (zstd needs libzstd-dev
 *   at build time: `make install` installs it); src/kafka/codecs.ts is kafkajs' only.
 *   KAFKA_COMPRESSION sets the producers' `compression.codec`.
 * - Assignment: librdkafka's `range` assignor (per topic, among the members subscribed to it),
 *   not the kafkajs backend's FlowyardSubscriptionRoundRobin: members of one group must all run
 *   the same backend (the broker refuses a member whose protocols share none with the group's:
 *   INCONSISTENT_GROUP_PROTOCOL), so switch KAFKA_CLIENT for all of a plan's roles at once.
 * - Transactions: sendOffsets sends the consumer's group metadata (KIP-447), so a zombie
 *   member's commit is fenced; initTransactions fences an older producer with the same
 *   transactional id. A fenced producer's errors are fatal: classify says permanent.
 * - A refused SASL login or TLS handshake: librdkafka retries both like an outage, so before a
 *   port's first connection the backend checks them itself (preflight.ts) and fails with an
 *   InvalidInputError naming the setting (exit 2).
 * - Heartbeats run on librdkafka's thread (BatchControls.heartbeat does nothing); the handlers
 *   of one consume round must finish within max.poll.interval.ms (5 min), else librdkafka
 *   leaves the group and rejoins at the next consume.
 * - A batch compressed with a codec the process cannot read: librdkafka reads every codec it
 *   was built with; there is no "unreadable batch" pause here.
 * - topicConfigs: the library binds no DescribeConfigs (upstream issue #444), so that one call
 *   goes to the kafkajs backend's admin.
 */
import type { KafkaConnection } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { ConsumedRecord } from '../records.js';
import type { GroupConsumer, GroupConsumerOptions, KafkaAdmin, KafkaErrorKind, KafkaPort, KafkaProducer, PartitionRange, ProducerOptions, RangeReadOptions, Tail } from '../port.js';
import { ConfluentAdmin } from './admin.js';
import { ConfluentGroupConsumer } from './consumer.js';
import { classifyConfluentError } from './errors.js';
import { confluent } from './library.js';
import { Preflight } from './preflight.js';
import { connectProducer } from './producer.js';
import { readRange, tail } from './reader.js';

export function createPort(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): KafkaPort {
  const { features, librdkafkaVersion } = confluent();
  const compression = connection.compression ?? 'lz4';
  if (compression !== 'none' && !features.includes(compression)) {
    const message = `environment: KAFKA_COMPRESSION=${compression}: the librdkafka ${librdkafkaVersion} of @confluentinc/kafka-javascript was built without ${compression} (it has ${features.join(', ')}); rebuild it with \`make install\` or choose another codec`;
    throw new InvalidInputError(message, [message]);
  }
  const missing = [...(connection.tls ? ['ssl'] : []), ...(connection.sasl?.mechanism.startsWith('scram') ? ['sasl_scram'] : [])].filter((f) => !features.includes(f));
  if (missing.length > 0) {
    const message = `environment: KAFKA_TLS/KAFKA_SASL_MECHANISM: the librdkafka ${librdkafkaVersion} of @confluentinc/kafka-javascript was built without ${missing.join(', ')} (it has ${features.join(', ')}); rebuild it with \`make install\``;
    throw new InvalidInputError(message, [message]);
  }
  return new ConfluentPort(connection, logger.child({ kafkaClient: 'confluent' }), clientIdSuffix);
}

class ConfluentPort implements KafkaPort {
  readonly client = 'confluent' as const;
  /** sendOffsetsToTransaction passes the native consumer's group metadata (KIP-447). */
  readonly fencesGroupMembers = true;
  private readonly clientId: string;
  private readonly preflight: Preflight;

  constructor(
    private readonly connection: KafkaConnection,
    private readonly logger: Logger,
    private readonly clientIdSuffix: string | undefined,
  ) {
    this.clientId = clientIdSuffix ? `${connection.clientId}-${clientIdSuffix}` : connection.clientId;
    this.preflight = new Preflight(connection, this.clientId);
  }

  admin(): KafkaAdmin {
    return new ConfluentAdmin(this.connection, this.clientId, this.logger, this.clientIdSuffix, this.preflight);
  }

  async producer(options: ProducerOptions = {}): Promise<KafkaProducer> {
    await this.preflight.check();
    return connectProducer(this.connection, this.clientId, options, this.logger);
  }

  groupConsumer(options: GroupConsumerOptions): GroupConsumer {
    return new ConfluentGroupConsumer(this.connection, this.clientId, options, this.logger, this.preflight);
  }

  async readRange(topic: string, range: ReadonlyMap<number, PartitionRange>, handle: (records: readonly ConsumedRecord[]) => Promise<void>, options: RangeReadOptions): Promise<void> {
    await this.preflight.check();
    return readRange(this.connection, this.clientId, this.logger, topic, range, handle, options);
  }

  async tail(topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> {
    const admin = this.admin();
    try {
      return await tail(this.connection, this.clientId, this.logger, admin, topics, onRecord);
    } finally {
      await admin.disconnect();
    }
  }

  classify(error: unknown): KafkaErrorKind {
    return classifyConfluentError(error);
  }
}
