/**
 * The KAFKA_CLIENT=platformatic backend: the port on @platformatic/kafka 2.x, a pure JavaScript
 * client (no native addon; 2.x needs Node >= 22.22 or >= 24.6, flowyard runs Node 24).
 *
 * What it does, and how it differs from the kafkajs backend:
 * - Producer: idempotent, acks=all, one request in flight per broker; KAFKA_COMPRESSION for every
 *   produce (gzip and zstd through node:zlib, snappy and lz4 through the library's WebAssembly,
 *   nothing native to install); Java's murmur2 key partitioning (the library's default differs).
 * - Transactions: records and consumer offsets atomically; offsets go with the group's generation
 *   and member id (KIP-447 zombie fencing, which kafkajs lacks) and their metadata. Creating a
 *   transactional producer fences the previous holder of its transactional id at once.
 * - Group consumer: the library's group membership with flowyard's subscription-aware assignor
 *   (same protocol name as the kafkajs backend's), flowyard's own fetch loop (group-consumer.ts).
 *   read_committed; aborted transactions dropped the Java way (records.ts).
 * - Reads every codec Kafka defines in-process, so the "batch this process cannot decompress"
 *   of the port never arises from a missing library here; a fetch the library cannot decode
 *   (a codec id Kafka does not assign) fails that broker's fetch round, is logged with the
 *   library's reason and retried, without pausing only the partition concerned.
 * - Logs: the library has no logger hook (it writes through `debug` and diagnostics_channel);
 *   this backend logs its own decisions (assignments, retries, failures) to pino.
 * - TLS and SASL (PLAIN, SCRAM-SHA-256/512) from the connection; a refused handshake or login is
 *   an InvalidInputError naming the variable (exit 2), as with kafkajs.
 */
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { GroupConsumer, GroupConsumerOptions, KafkaAdmin, KafkaPort, KafkaProducer, PartitionRange, ProducerOptions, RangeReadOptions, Tail } from '../port.js';
import type { ConsumedRecord } from '../records.js';
import { PlatformaticAdmin } from './admin.js';
import { classify, ConnectionCheck, producerCompression } from './connection.js';
import { PlatformaticGroupConsumer } from './group-consumer.js';
import { PlatformaticProducer } from './producer.js';
import { readRange, tail } from './reader.js';

export function createPort(connection: KafkaConnection, logger: Logger, clientIdSuffix?: string): KafkaPort {
  // A codec this Node cannot write is refused at start (exit 2), not at the first produce.
  producerCompression(connection);
  const clientId = clientIdSuffix ? `${connection.clientId}-${clientIdSuffix}` : connection.clientId;
  const check = new ConnectionCheck(connection);
  const log = logger.child({ component: 'kafka', client: 'platformatic' });
  return {
    client: 'platformatic',
    fencesGroupMembers: true, // sendOffsets sends the member's generation and id (producer.ts)
    admin: (): KafkaAdmin => new PlatformaticAdmin(connection, clientId, check),
    producer: (options: ProducerOptions = {}): Promise<KafkaProducer> => PlatformaticProducer.create(connection, clientId, check, log, options.transactionalId),
    groupConsumer: (options: GroupConsumerOptions): GroupConsumer => new PlatformaticGroupConsumer(options, connection, clientId, check, log),
    readRange: (topic: string, range: ReadonlyMap<number, PartitionRange>, handle: (records: readonly ConsumedRecord[]) => Promise<void>, options: RangeReadOptions): Promise<void> =>
      readRange(connection, clientId, check, log, topic, range, handle, options),
    tail: (topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> => tail(connection, clientId, check, log, topics, onRecord),
    classify,
  };
}
