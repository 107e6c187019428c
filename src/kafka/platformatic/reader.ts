/**
 * Reading outside any group: a range of a topic (dlq commands) and the tail of topics (demo,
 * tests, benchmarks). Partitions are fetched directly at the wanted offsets; no group is joined
 * and nothing is committed (the library's Consumer needs a group id; it is never used).
 */
import { randomUUID } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import type { PartitionRange, RangeReadOptions, Tail } from '../port.js';
import type { ConsumedRecord } from '../records.js';
import { baseOptions, explain, type ConnectionCheck } from './connection.js';
import { Fetcher, type PartitionPosition } from './fetcher.js';

const MAX_WAIT_MS = 250;
const RETRY_AFTER_MS = 500;

function reader(connection: KafkaConnection, clientId: string, purpose: string): { consumer: Consumer; fetcher: Fetcher } {
  const base = baseOptions(connection, clientId);
  const consumer = new Consumer({ ...base, groupId: `${purpose}-${randomUUID()}`, autocommit: false });
  return { consumer, fetcher: new Fetcher(consumer, { maxWaitMs: MAX_WAIT_MS, maxBytesPerPartition: 1_048_576 }, base) };
}

async function close({ consumer, fetcher }: { consumer: Consumer; fetcher: Fetcher }): Promise<void> {
  await fetcher.close();
  await consumer.close();
}

export async function readRange(
  connection: KafkaConnection,
  clientId: string,
  check: ConnectionCheck,
  logger: Logger,
  topic: string,
  range: ReadonlyMap<number, PartitionRange>,
  handle: (records: readonly ConsumedRecord[]) => Promise<void>,
  options: RangeReadOptions,
): Promise<void> {
  const next = new Map([...range].map(([partition, r]) => [partition, r.start]));
  const unfinished = () => [...range].filter(([partition, r]) => next.get(partition)! < r.end);
  if (unfinished().length === 0) return;
  const client = reader(connection, clientId, options.purpose);
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let progressAt = Date.now();
  try {
    await check.run(() => client.consumer.metadata({ topics: [topic] }));
    for (let left = unfinished(); left.length > 0; left = unfinished()) {
      if (Date.now() - progressAt > stallMs) {
        const behind = left.map(([p, r]) => `partition ${p} at ${next.get(p)} of ${r.end}`);
        throw new Error(`reading ${topic} made no progress for ${stallMs / 1000} s (${behind.join(', ')}); records before were handled`);
      }
      const results = await client.fetcher.fetch(left.map(([partition]): PartitionPosition => ({ topic, partition, offset: next.get(partition)! })));
      let failed = false;
      for (const result of results) {
        const { partition, offset } = result.position;
        const end = range.get(partition)!.end;
        if (result.kind === 'failed') {
          failed = true;
          logger.warn({ topic, partition, offset: offset.toString(), err: result.error }, `reading failed (${explain(result.error)}); trying again`);
          continue;
        }
        if (result.kind === 'out-of-range') {
          // Deleted by retention since the range was taken: what is left starts at the log start.
          if (result.logStart > offset) next.set(partition, result.logStart);
          else next.set(partition, end);
          progressAt = Date.now();
          continue;
        }
        const { records, lastOffset } = result.fetch;
        if (lastOffset === undefined) continue;
        const wanted = records.filter((r) => BigInt(r.offset) < end);
        if (wanted.length > 0) await handle(wanted);
        next.set(partition, lastOffset + 1n);
        progressAt = Date.now();
      }
      if (failed) await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
    }
  } finally {
    await close(client);
  }
}

/** Reads `topics` from their current end (read_committed) until stopped. */
export async function tail(connection: KafkaConnection, clientId: string, check: ConnectionCheck, logger: Logger, topics: readonly string[], onRecord: (record: ConsumedRecord) => void): Promise<Tail> {
  const client = reader(connection, clientId, 'flowyard-tail');
  const positions = new Map<string, PartitionPosition>();
  try {
    const existing = new Set(await check.run(() => client.consumer.metadata({ topics: [...topics] }).then((m) => [...m.topics.keys()])));
    const wanted = topics.filter((t) => existing.has(t));
    const offsets = wanted.length === 0 ? new Map<string, bigint[]>() : await client.consumer.listOffsets({ topics: wanted, timestamp: -1n }); // -1: the end
    for (const [topic, list] of offsets) list.forEach((offset, partition) => positions.set(`${topic}:${partition}`, { topic, partition, offset }));
  } catch (error) {
    await close(client);
    throw error;
  }
  let running = true;
  const loop = (async () => {
    while (running && positions.size > 0) {
      const results = await client.fetcher.fetch([...positions.values()]);
      let failed = false;
      for (const result of results) {
        const k = `${result.position.topic}:${result.position.partition}`;
        if (result.kind === 'failed') {
          if (running) logger.warn({ topic: result.position.topic, partition: result.position.partition, err: result.error }, `tailing failed (${explain(result.error)}); trying again`);
          failed = true;
        } else if (result.kind === 'out-of-range') {
          positions.set(k, { ...result.position, offset: result.highWatermark });
        } else if (result.fetch.lastOffset !== undefined) {
          if (running) for (const record of result.fetch.records) onRecord(record);
          positions.set(k, { ...result.position, offset: result.fetch.lastOffset + 1n });
        }
      }
      if (failed && running) await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch((error: unknown) => logger.warn({ err: error }, 'tail ended with an error'));
      await close(client);
    },
  };
}
