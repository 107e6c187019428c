import { randomUUID } from 'node:crypto';
import { retryLimited } from '../../resilience/retry.js';
import type { Tail } from '../port.js';
import type { ConsumedRecord } from '../records.js';
import type { KafkaClient } from './client.js';
import { toConsumedRecord } from './records.js';

/**
 * Reads `topics` from their current end on (the watermarks at the time of the call) with a
 * throw-away group, handing every record to `onRecord`. For `demo`, tests and benchmarks:
 * observe what a run produced without reading the topics' history.
 */
export async function tailTopics(kafka: KafkaClient, topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> {
  const start = await highWatermarks(kafka, topics);
  // maxWaitTimeInMs: the fetch in flight when the seek below lands waits this long before the tail starts (kafkajs' default is 5 s).
  const consumer = kafka.consumer({ groupId: `flowyard-tail-${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
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

/** High watermark of every partition of the existing `topics`. */
async function highWatermarks(kafka: KafkaClient, topics: readonly string[]): Promise<Map<string, Map<number, string>>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const result = new Map<string, Map<number, string>>();
    for (const topic of topics.filter((t) => existing.has(t))) {
      const offsets = await retryWhileRetriable(() => admin.fetchTopicOffsets(topic));
      result.set(topic, new Map(offsets.map((o) => [o.partition, o.high])));
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}

/** Offsets of a topic created a moment ago can answer "not the leader" for a moment; kafkajs marks those retriable. */
function retryWhileRetriable<T>(call: () => Promise<T>): Promise<T> {
  return retryLimited(call, { attempts: 20, waitMs: () => 250, retryIf: (error) => (error as { retriable?: boolean }).retriable === true });
}
