/**
 * The idempotent producer and its transactions on the native client. Every produce() carries
 * a settle callback as its opaque; librdkafka's background poll thread delivers the delivery
 * report (acks=all) and the send resolves when every record of the call is acknowledged.
 */
import type { DeliveryReport, LibrdKafkaError, Producer } from '@confluentinc/kafka-javascript';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import { sleep } from '../../resilience/abort.js';
import type { GroupConsumer, KafkaProducer, KafkaTransaction, ProducerOptions, TopicRecords, TransactionOffset } from '../port.js';
import { asError, CODES, errorCode } from './errors.js';
import { commonConfig, confluent, routeLogs, type RdkafkaConfig } from './library.js';
import { nativeConsumerOf } from './consumer.js';
import { nativeHeaders } from './records.js';

/** The transaction coordinator aborts a transaction open longer than this (as the kafkajs backend). */
const TRANSACTION_TIMEOUT_MS = 60_000;
/** How long init, commit and abort of a transaction wait for the coordinator before failing retriably. */
const TRANSACTION_CALL_TIMEOUT_MS = 30_000;
/** Wait before producing again when librdkafka's local queue is full (deliveries free it). */
const QUEUE_FULL_WAIT_MS = 5;

type Settle = (error: LibrdKafkaError | null) => void;

export function producerConfig(connection: KafkaConnection, clientId: string, options: ProducerOptions): RdkafkaConfig {
  return {
    ...commonConfig(connection, clientId),
    // acks=all, one producer id and sequence numbers: no duplicates or reordering from retries.
    'enable.idempotence': true,
    acks: -1,
    // murmur2 like the Java client (and the kafkajs backend): a key lands on the same partition whoever produced it.
    partitioner: 'murmur2_random',
    'compression.codec': connection.compression ?? 'lz4',
    // The callers send a whole batch at once and wait for it: waiting longer for more records only adds latency.
    'linger.ms': 1,
    dr_cb: true,
    ...(options.transactionalId !== undefined && { 'transactional.id': options.transactionalId, 'transaction.timeout.ms': TRANSACTION_TIMEOUT_MS }),
  };
}

function call(run: (done: (error: LibrdKafkaError | null | undefined) => void) => void, context: string): Promise<void> {
  return new Promise((resolve, reject) => run((error) => (error ? reject(asError(error, context)) : resolve())));
}

export async function connectProducer(connection: KafkaConnection, clientId: string, options: ProducerOptions, logger: Logger): Promise<ConfluentProducer> {
  const { Producer: NativeProducer } = confluent();
  const native = new NativeProducer(producerConfig(connection, clientId, options));
  routeLogs(native, logger, 'producer');
  native.on('delivery-report', (error: LibrdKafkaError, report: DeliveryReport) => (report.opaque as Settle)(error ?? null));
  await new Promise<void>((resolve, reject) => native.connect({}, (error) => (error ? reject(asError(error, 'connecting the producer')) : resolve())));
  native.setPollInBackground(true);
  if (options.transactionalId !== undefined) {
    try {
      // Fences an older producer with the same transactional id and aborts what it left open.
      await call((done) => native.initTransactions(TRANSACTION_CALL_TIMEOUT_MS, done), `initialising transactions of ${options.transactionalId}`);
    } catch (error) {
      // The caller gets no producer to disconnect: its connections close here.
      await new Promise<void>((resolve) => native.disconnect(() => resolve()));
      throw error;
    }
  }
  return new ConfluentProducer(native);
}

export class ConfluentProducer implements KafkaProducer {
  constructor(private readonly native: Producer) {}

  async send(batch: readonly TopicRecords[]): Promise<void> {
    const deliveries: Promise<void>[] = [];
    for (const { topic, records } of batch) {
      for (const record of records) {
        let settle: Settle = () => undefined;
        const delivered = new Promise<void>((resolve, reject) => {
          settle = (error) => (error ? reject(asError(error, `producing to ${topic}`)) : resolve());
        });
        // Read by the Promise.all below; this keeps an early failure from counting as unhandled meanwhile.
        delivered.catch(() => undefined);
        deliveries.push(delivered);
        const value = typeof record.value === 'string' ? Buffer.from(record.value) : record.value;
        const headers = nativeHeaders(record);
        for (;;) {
          try {
            this.native.produce(topic, record.partition ?? -1, value, record.key, null, settle, headers);
            break;
          } catch (error) {
            // librdkafka's local queue is full: deliveries free it; the records after wait their turn, in order.
            if (errorCode(error) === CODES.QUEUE_FULL) {
              await sleep(QUEUE_FULL_WAIT_MS);
              continue;
            }
            settle(error as LibrdKafkaError);
            break;
          }
        }
      }
    }
    await Promise.all(deliveries);
  }

  async transaction(): Promise<KafkaTransaction> {
    await call((done) => {
      this.native.beginTransaction(done);
    }, 'beginning a transaction');
    return new ConfluentTransaction(this, this.native);
  }

  async disconnect(): Promise<void> {
    await new Promise<void>((resolve) => this.native.flush(TRANSACTION_CALL_TIMEOUT_MS, () => resolve()));
    await new Promise<void>((resolve, reject) => this.native.disconnect((error: unknown) => (error ? reject(asError(error, 'disconnecting the producer')) : resolve())));
  }
}

class ConfluentTransaction implements KafkaTransaction {
  constructor(
    private readonly producer: ConfluentProducer,
    private readonly native: Producer,
  ) {}

  send(batch: readonly TopicRecords[]): Promise<void> {
    return this.producer.send(batch);
  }

  /** KIP-447: the offsets carry the consumer's group metadata (generation, member id), so a zombie's commit is fenced. */
  async sendOffsets(consumer: GroupConsumer, offsets: readonly TransactionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    const native = nativeConsumerOf(consumer);
    const list = offsets.map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset: Number(offset), ...(metadata !== undefined && { metadata }) }));
    await call((done) => this.native.sendOffsetsToTransaction(list, native, TRANSACTION_CALL_TIMEOUT_MS, done), `sending offsets of group ${consumer.groupId} to the transaction`);
  }

  commit(): Promise<void> {
    return call((done) => this.native.commitTransaction(TRANSACTION_CALL_TIMEOUT_MS, done), 'committing the transaction');
  }

  abort(): Promise<void> {
    return call((done) => this.native.abortTransaction(TRANSACTION_CALL_TIMEOUT_MS, done), 'aborting the transaction');
  }
}
