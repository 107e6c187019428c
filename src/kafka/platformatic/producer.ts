/**
 * The port's producer on @platformatic/kafka: idempotent (acks=all, one request in flight per
 * broker, so retries keep the order per partition), with flowyard's codec and Java's key
 * partitioning. Transactions commit consumer offsets with TxnOffsetCommit carrying the group's
 * generation and member id (KIP-447: a zombie member's offsets are refused) and each offset's
 * metadata; the library's own Transaction.addOffset commits one message's offset at a time,
 * without metadata, so only its AddOffsetsToTxn is used.
 */
import { kGetApi, Producer, type API, type txnOffsetCommitV3 } from '@platformatic/kafka';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { GroupConsumer, KafkaProducer, KafkaTransaction, TopicRecords, TransactionOffset } from '../port.js';
import type { OutgoingRecord } from '../records.js';
import { baseOptions, classify, explain, findIn, producerCompression, type ConnectionCheck } from './connection.js';
import { PlatformaticGroupConsumer, type Membership } from './group-consumer.js';
import { javaCompatiblePartitioner, toMessages } from './records.js';

/** Bytes of keys and values per produce request: well under the broker's default 1 MB message.max.bytes for one partition's batch. */
const MAX_REQUEST_BYTES = 512 * 1024;
/** ms the broker gives an open transaction before aborting it (the kafkajs backend's 60 s). */
const TRANSACTION_TIMEOUT_MS = 60_000;
/** TxnOffsetCommit answers that the group moved on from the membership the offsets were sent with. */
const MEMBERSHIP_REFUSED = ['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID', 'REBALANCE_IN_PROGRESS'];
/** InitProducerId's "no producer id yet": the broker hands out the id's producer with its epoch bumped. */
const NEW_PRODUCER = { producerId: -1n, producerEpoch: -1 } as const;
/** Attempts and wait of a TxnOffsetCommit the broker answered retriably (coordinator loading or moving). */
const OFFSETS_ATTEMPTS = 10;
const OFFSETS_WAIT_MS = 250;

function sizeOf(record: OutgoingRecord): number {
  const bytes = (v: string | Buffer | null) => (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  return bytes(record.key) + bytes(record.value) + 64;
}

/** Splits a send into requests of at most MAX_REQUEST_BYTES (a larger record goes alone), order kept. */
function chunks(batch: readonly TopicRecords[]): TopicRecords[][] {
  const result: TopicRecords[][] = [];
  let current: { topic: string; records: OutgoingRecord[] }[] = [];
  let bytes = 0;
  for (const { topic, records } of batch) {
    for (const record of records) {
      const size = sizeOf(record);
      if (bytes > 0 && bytes + size > MAX_REQUEST_BYTES) {
        result.push(current);
        current = [];
        bytes = 0;
      }
      const last = current[current.length - 1];
      if (last?.topic === topic) last.records.push(record);
      else current.push({ topic, records: [record] });
      bytes += size;
    }
  }
  if (current.length > 0) result.push(current);
  return result;
}

type TxnOffsetCommitApi = API<[transactionalId: string, groupId: string, producerId: bigint, producerEpoch: number, generationId: number, memberId: string, groupInstanceId: string | null, topics: txnOffsetCommitV3.TxnOffsetCommitRequestTopic[]], unknown>;

export class PlatformaticProducer implements KafkaProducer {
  private constructor(
    private readonly producer: Producer,
    private readonly transactionalId: string | undefined,
    private readonly logger: Logger,
  ) {}

  static async create(connection: KafkaConnection, clientId: string, check: ConnectionCheck, logger: Logger, transactionalId?: string): Promise<PlatformaticProducer> {
    const producer = new Producer({
      ...baseOptions(connection, clientId),
      idempotent: true,
      acks: -1, // all in-sync replicas
      compression: producerCompression(connection),
      partitioner: javaCompatiblePartitioner,
      ...(transactionalId !== undefined && { transactionalId, timeout: TRANSACTION_TIMEOUT_MS }),
    });
    try {
      // Connects and gets a producer id now, so a broker that is down or refuses the login fails the
      // start. A transactional id's InitProducerId happens at the first begin (the library has no
      // other way to it); beginning and cancelling one (nothing reaches the broker for either)
      // does it now, fencing the previous holder of the id at once. NEW_PRODUCER: the library
      // would otherwise send producer id 0 and epoch 0, which the broker reads as "I am producer 0
      // of this transactional id" (KIP-360) and refuses with PRODUCER_FENCED once the id has
      // belonged to any other producer, so a worker could never take over an id after a fence.
      await check.run(async () => {
        if (transactionalId === undefined) await producer.initIdempotentProducer({});
        else await (await producer.beginTransaction(NEW_PRODUCER)).cancel();
      });
    } catch (error) {
      await producer.close().catch(() => undefined);
      throw error;
    }
    return new PlatformaticProducer(producer, transactionalId, logger);
  }

  async send(batch: readonly TopicRecords[]): Promise<void> {
    // A transactional producer writes only inside transactions (the library drops its producer id otherwise).
    if (this.transactionalId !== undefined) {
      const transaction = await this.transaction();
      try {
        await transaction.send(batch);
        await transaction.commit();
      } catch (error) {
        await transaction.abort().catch(() => undefined); // the send's error is what the caller needs
        throw error;
      }
      return;
    }
    for (const chunk of chunks(batch)) {
      const messages = toMessages(chunk);
      if (messages.length > 0) await this.producer.send({ messages });
    }
  }

  async transaction(): Promise<KafkaTransaction> {
    if (this.transactionalId === undefined) throw new Error('transaction() needs a producer created with a transactionalId');
    if (this.producer.transaction !== undefined) throw new Error(`producer ${this.transactionalId} has a transaction open; commit or abort it before the next`);
    try {
      await this.producer.beginTransaction();
    } catch (error) {
      // A begin that failed half-way leaves the library's transaction set; without this every later begin fails.
      await openTransaction(this.producer)?.cancel().catch(() => undefined);
      throw error;
    }
    return new PlatformaticTransaction(this.producer, this.transactionalId, this.logger);
  }

  async disconnect(): Promise<void> {
    await this.producer.close();
  }
}

/** The library's open transaction; a function so TypeScript does not keep a narrowing across awaits. */
function openTransaction(producer: Producer): Producer['transaction'] {
  return producer.transaction;
}

class PlatformaticTransaction implements KafkaTransaction {
  /** The library adds partitions to the transaction per send, deduplicating concurrent adds into one: sends go one after another. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly producer: Producer,
    private readonly transactionalId: string,
    private readonly logger: Logger,
  ) {}

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step, step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  send(batch: readonly TopicRecords[]): Promise<void> {
    return this.serial(async () => {
      const transaction = this.producer.transaction!;
      for (const chunk of chunks(batch)) {
        const messages = toMessages(chunk);
        if (messages.length > 0) await transaction.send({ messages });
      }
    });
  }

  sendOffsets(consumer: GroupConsumer, offsets: readonly TransactionOffset[]): Promise<void> {
    return this.serial(async () => {
      if (offsets.length === 0) return;
      if (!(consumer instanceof PlatformaticGroupConsumer)) throw new Error(`sendOffsets: group ${consumer.groupId}'s consumer is not a KAFKA_CLIENT=platformatic consumer`);
      // Taken before anything reaches the broker, and kept through the retries: a rebalance meanwhile makes the broker refuse it.
      const membership = consumer.membershipFor(offsets);
      const member = consumer.consumer;
      await this.producer.transaction!.addConsumer(member);
      const topics = new Map<string, txnOffsetCommitV3.TxnOffsetCommitRequestTopic>();
      for (const { topic, partition, offset, metadata } of offsets) {
        let entry = topics.get(topic);
        if (entry === undefined) topics.set(topic, (entry = { name: topic, partitions: [] }));
        entry.partitions.push({ partitionIndex: partition, committedOffset: BigInt(offset), committedLeaderEpoch: -1, committedMetadata: metadata ?? null });
      }
      await this.commitOffsets(member, membership, [...topics.values()]);
    });
  }

  private async commitOffsets(member: PlatformaticGroupConsumer['consumer'], membership: Membership, topics: txnOffsetCommitV3.TxnOffsetCommitRequestTopic[]): Promise<void> {
    const api = await new Promise<TxnOffsetCommitApi>((resolve, reject) =>
      this.producer[kGetApi]<Parameters<TxnOffsetCommitApi['async']> extends [unknown, ...infer A] ? A : never, unknown>('TxnOffsetCommit', (error, found) => (error ? reject(error) : resolve(found as TxnOffsetCommitApi))),
    );
    for (let attempt = 1; ; attempt++) {
      try {
        const coordinator = await member.findGroupCoordinator();
        const metadata = await this.producer.metadata({ topics: [] });
        const broker = metadata.brokers.get(coordinator);
        if (broker === undefined) throw new Error(`group coordinator ${coordinator} of ${member.groupId} is not among the brokers the cluster lists`);
        const connection = await this.producer.connections.get(broker);
        const { producerId, producerEpoch } = this.producer;
        // The generation and member id of the assignment the batch came from: the broker refuses offsets of a member the group has left behind (KIP-447).
        await api.async(connection, this.transactionalId, member.groupId, producerId!, producerEpoch!, membership.generationId, membership.memberId, null, topics);
        return;
      } catch (error) {
        // Refused for the membership: the partitions may have moved; only an abort is safe (the
        // retry under a newer generation would commit offsets of a partition another member reads).
        if (MEMBERSHIP_REFUSED.some((id) => findIn(error, 'apiId', id) !== undefined)) throw error;
        if (attempt >= OFFSETS_ATTEMPTS || classify(error) !== 'retriable') throw error;
        this.logger.debug({ group: member.groupId, err: error, attempt }, `committing offsets in the transaction failed (${explain(error as Error)}); trying again`);
        await new Promise((resolve) => setTimeout(resolve, OFFSETS_WAIT_MS));
      }
    }
  }

  commit(): Promise<void> {
    return this.serial(() => this.producer.transaction!.commit());
  }

  abort(): Promise<void> {
    return this.serial(async () => {
      const transaction = this.producer.transaction;
      if (transaction === undefined) return;
      try {
        await transaction.abort();
      } catch (error) {
        // The broker aborts it at the transaction timeout; the producer must be free for the next one.
        await transaction.cancel().catch(() => undefined);
        throw error;
      }
    });
  }
}
