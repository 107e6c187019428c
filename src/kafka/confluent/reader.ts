/**
 * Reading outside any group: a range of a topic (commands: dlq, replay) and the tail of topics
 * (demo, tests, benchmarks). A native consumer is assigned the partitions at the wanted
 * offsets; nothing joins a group or commits (the group id librdkafka wants stays unused).
 */
import { randomUUID } from 'node:crypto';
import type { KafkaConsumer, Message, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { ConsumedRecord } from '../records.js';
import type { KafkaAdmin, PartitionRange, RangeReadOptions, Tail } from '../port.js';
import { asError } from './errors.js';
import { confluent, routeLogs } from './library.js';
import { consumerConfig } from './consumer.js';
import { toConsumedRecord } from './records.js';

const MAX_MESSAGES = 1_000;
const CONSUME_WAIT_MS = 100;

async function assignedConsumer(connection: KafkaConnection, clientId: string, groupId: string, logger: Logger, assignment: TopicPartitionOffset[]): Promise<KafkaConsumer> {
  const { KafkaConsumer: Native } = confluent();
  const consumer = new Native({ ...consumerConfig(connection, clientId, groupId) }, { 'auto.offset.reset': 'earliest' });
  routeLogs(consumer, logger, 'reader');
  await new Promise<void>((resolve, reject) => consumer.connect({}, (error) => (error ? reject(asError(error, 'connecting a reader')) : resolve())));
  consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
  (consumer as KafkaConsumer & { setDefaultIsTimeoutOnlyForFirstMessage(onlyFirst: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
  consumer.assign(assignment);
  return consumer;
}

function consume(consumer: KafkaConsumer): Promise<Message[]> {
  return new Promise((resolve, reject) => consumer.consume(MAX_MESSAGES, (error, messages) => (error ? reject(asError(error, 'reading')) : resolve(messages))));
}

function close(consumer: KafkaConsumer): Promise<void> {
  if (!consumer.isConnected()) return Promise.resolve();
  return new Promise((resolve) => consumer.disconnect(() => resolve()));
}

/**
 * Reads `range` of `topic` (read_committed), handing each partition's records in offset order
 * to `handle` batch by batch; returns once every partition's position reached its end
 * (positions move past transaction markers and aborted records too). A failure of `handle`
 * stops the read and is thrown.
 */
export async function readRange(
  connection: KafkaConnection,
  clientId: string,
  logger: Logger,
  topic: string,
  range: ReadonlyMap<number, PartitionRange>,
  handle: (records: readonly ConsumedRecord[]) => Promise<void>,
  options: RangeReadOptions,
): Promise<void> {
  const wanted = [...range].filter(([, r]) => r.start < r.end);
  if (wanted.length === 0) return;
  const next = new Map(wanted.map(([partition, r]) => [partition, r.start]));
  const consumer = await assignedConsumer(connection, clientId, `${options.purpose}-${randomUUID()}`, logger, wanted.map(([partition, r]) => ({ topic, partition, offset: Number(r.start) })));
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let progressAt = Date.now();
  try {
    for (;;) {
      const messages = await consume(consumer);
      const byPartition = new Map<number, ConsumedRecord[]>();
      for (const message of messages) {
        const end = range.get(message.partition)?.end;
        if (end === undefined || BigInt(message.offset) >= end) continue;
        const list = byPartition.get(message.partition) ?? [];
        list.push(toConsumedRecord(message));
        byPartition.set(message.partition, list);
      }
      for (const records of byPartition.values()) await handle(records);
      for (const p of consumer.position(wanted.map(([partition]) => ({ topic, partition }))) as TopicPartitionOffset[]) {
        const reached = p.offset !== undefined && p.offset >= 0 ? BigInt(p.offset) : undefined;
        if (reached !== undefined && reached > next.get(p.partition)!) {
          next.set(p.partition, reached);
          progressAt = Date.now();
        }
      }
      const behind = wanted.filter(([partition, r]) => next.get(partition)! < r.end);
      if (behind.length === 0) return;
      // Partitions done are paused: their records past the end would only be dropped.
      const done = wanted.filter(([partition, r]) => next.get(partition)! >= r.end).map(([partition]) => ({ topic, partition }));
      if (done.length > 0) consumer.pause(done);
      if (Date.now() - progressAt > stallMs) {
        const where = behind.map(([partition, r]) => `partition ${partition} at ${next.get(partition)} of ${r.end}`);
        throw new Error(`reading ${topic} made no progress for ${stallMs / 1000} s (${where.join(', ')}); records before were handled`);
      }
    }
  } finally {
    await close(consumer);
  }
}

/** Reads `topics` from their high watermarks at the time of the call on, handing every record to `onRecord`, until stopped. */
export async function tail(connection: KafkaConnection, clientId: string, logger: Logger, admin: KafkaAdmin, topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> {
  const present = new Set(await admin.listTopics());
  const assignment: TopicPartitionOffset[] = [];
  for (const topic of topics.filter((t) => present.has(t))) {
    for (const { partition, high } of await admin.watermarks(topic)) assignment.push({ topic, partition, offset: Number(high) });
  }
  const consumer = await assignedConsumer(connection, clientId, `flowyard-tail-${randomUUID()}`, logger, assignment);
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const message of await consume(consumer)) onRecord(toConsumedRecord(message));
      } catch (error) {
        logger.error({ err: error, topics }, 'tail: consume failed; consuming again');
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await close(consumer);
    },
  };
}
