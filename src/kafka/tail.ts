import { randomUUID } from 'node:crypto';
import type { KafkaClient } from './client.js';
import { highWatermarks } from './offsets.js';
import { toConsumedRecord, type ConsumedRecord } from './records.js';

export interface Tail {
  stop(): Promise<void>;
}

/**
 * Reads `topics` from their current end on (the watermarks at the time of the call) with a
 * throw-away group, handing every record to `onRecord`. For `demo`, tests and benchmarks:
 * observe what a run produced without reading the topics' history.
 */
export async function tailTopics(kafka: KafkaClient, topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> {
  const start = await highWatermarks(kafka, topics);
  const consumer = kafka.consumer({ groupId: `flowyard-tail-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [...start.keys()], fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) onRecord(toConsumedRecord(batch.topic, batch.partition, message));
    },
  });
  await joined;
  for (const [topic, partitions] of start) {
    for (const [partition, offset] of partitions) consumer.seek({ topic, partition, offset });
  }
  return { stop: () => consumer.disconnect() };
}
