import type { GroupConsumer, KafkaProducer, KafkaTransaction } from './port.js';
import type { OutgoingRecord, TopicPartitionOffset } from './records.js';

/** Writes records to one topic and waits for acks=all. */
export async function produce(producer: KafkaProducer | KafkaTransaction, topic: string, records: readonly OutgoingRecord[]): Promise<void> {
  if (records.length === 0) return;
  await producer.send([{ topic, records }]);
}

/** Records for several topics plus `consumer`'s offsets, committed atomically. */
export async function produceTransactionally(
  producer: KafkaProducer,
  consumer: GroupConsumer,
  byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>,
  offsets: readonly TopicPartitionOffset[],
): Promise<void> {
  const transaction = await producer.transaction();
  try {
    await transaction.send([...byTopic].map(([topic, records]) => ({ topic, records })));
    if (offsets.length > 0) await transaction.sendOffsets(consumer, offsets);
    await transaction.commit();
  } catch (error) {
    await transaction.abort().catch(() => undefined); // the original error is what matters; abort failure leaves the txn to time out
    throw error;
  }
}
