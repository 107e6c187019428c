import type { KafkaPort, PartitionRange } from './port.js';

/**
 * Start and end offsets per partition of `topic`: from the first record at or after `since`
 * (ms since epoch; Kafka's offsets-for-times) or the log start, to the high watermark now.
 * Undefined when the topic does not exist. The read itself is `KafkaPort.readRange`.
 */
export async function topicRange(kafka: KafkaPort, topic: string, since: number | undefined): Promise<Map<number, PartitionRange> | undefined> {
  const admin = kafka.admin();
  try {
    if (!(await admin.listTopics()).includes(topic)) return undefined;
    const watermarks = await admin.watermarks(topic);
    // A partition with nothing newer than `since` answers its high watermark.
    const fromTime = since === undefined ? undefined : await admin.offsetsAt(topic, since);
    return new Map(
      watermarks.map((w) => {
        const start = BigInt(fromTime?.find((f) => f.partition === w.partition)?.offset ?? w.low);
        return [w.partition, { start, end: BigInt(w.high) }];
      }),
    );
  } finally {
    await admin.disconnect();
  }
}
