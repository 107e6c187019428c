import kafkajs, { type Producer, type Transaction } from 'kafkajs';
import type { KafkaClient } from './client.js';
import type { OutgoingRecord, TopicPartitionOffset } from './records.js';

export type { Producer, Transaction };

const { Partitioners } = kafkajs;

export interface ProducerOptions {
  /** Set for transactional producers (router: copies + offset commit atomically). */
  readonly transactionalId?: string;
}

/**
 * An idempotent producer (acks=all, no duplicates from producer retries). With a
 * transactionalId it can also write records and consumer offsets in one transaction.
 */
export async function createProducer(kafka: KafkaClient, options: ProducerOptions = {}): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    // kafkajs: fewer retries could break idempotence; callers bound the wait (shutdown timeout).
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5_000 },
    maxInFlightRequests: 1, // kafkajs requires 1 for idempotence; keeps order per partition on retry
    allowAutoTopicCreation: false,
    // murmur2 like the Java client: a key lands on the same partition whoever produced it
    createPartitioner: Partitioners.DefaultPartitioner,
    ...(options.transactionalId && { transactionalId: options.transactionalId, transactionTimeout: 60_000 }),
  });
  await producer.connect();
  return producer;
}

export function toMessages(records: readonly OutgoingRecord[]) {
  return records.map((r) => ({
    key: r.key,
    value: r.value,
    ...(r.headers && { headers: { ...r.headers } }),
    ...(r.partition !== undefined && { partition: r.partition }),
  }));
}

/** Writes records to one topic and waits for acks=all. */
export async function produce(producer: Producer | Transaction, topic: string, records: readonly OutgoingRecord[]): Promise<void> {
  if (records.length === 0) return;
  await producer.send({ topic, acks: -1, messages: toMessages(records) });
}

/** Records for several topics plus consumer offsets, committed atomically. */
export async function produceTransactionally(
  producer: Producer,
  consumerGroupId: string,
  byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>,
  offsets: readonly TopicPartitionOffset[],
): Promise<void> {
  const transaction = await producer.transaction();
  try {
    if (byTopic.size > 0) {
      await transaction.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].filter(([, r]) => r.length > 0).map(([topic, records]) => ({ topic, messages: toMessages(records) })),
      });
    }
    if (offsets.length > 0) {
      await transaction.sendOffsets({
        consumerGroupId,
        topics: groupByTopic(offsets),
      });
    }
    await transaction.commit();
  } catch (error) {
    await transaction.abort().catch(() => undefined); // the original error is what matters; abort failure leaves the txn to time out
    throw error;
  }
}

function groupByTopic(offsets: readonly TopicPartitionOffset[]) {
  const topics = new Map<string, { partition: number; offset: string }[]>();
  for (const o of offsets) {
    const list = topics.get(o.topic) ?? [];
    list.push({ partition: o.partition, offset: o.offset });
    topics.set(o.topic, list);
  }
  return [...topics].map(([topic, partitions]) => ({ topic, partitions }));
}
