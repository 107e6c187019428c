/**
 * One fetch round over partitions at given positions: a Fetch request per leader broker (all at
 * once), read_committed, on a connection pool of its own so a fetch waiting for data never
 * holds up the group's heartbeats and commits, which Kafka answers in order per connection.
 * The group consumer, the range reader and the tail all fetch this way; the library's
 * MessagesStream is not used because it hands over single messages of all partitions in one
 * stream, pauses only as a whole, and drops transaction markers without saying so.
 */
import { ConnectionPool, FetchIsolationLevels, type Consumer, type fetchV17 } from '@platformatic/kafka';
import { findIn } from './connection.js';
import { partitionRecords, type PartitionFetch } from './records.js';

type FetchRequestTopic = fetchV17.FetchRequestTopic;
type FetchResponse = fetchV17.FetchResponse;

export interface PartitionPosition {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read. */
  readonly offset: bigint;
}

export type PartitionResult =
  | { readonly kind: 'fetched'; readonly position: PartitionPosition; readonly fetch: PartitionFetch }
  /** The position is before the log start or past the end (retention, a recreated topic). */
  | { readonly kind: 'out-of-range'; readonly position: PartitionPosition; readonly logStart: bigint; readonly highWatermark: bigint }
  | { readonly kind: 'failed'; readonly position: PartitionPosition; readonly error: Error };

export interface FetcherOptions {
  /** How long the broker may wait for data, ms. */
  readonly maxWaitMs: number;
  readonly maxBytesPerPartition: number;
}

/** Bytes one fetch response may hold over all partitions (the broker always returns at least one batch). */
const MAX_BYTES_PER_FETCH = 50 * 1_048_576;

export class Fetcher {
  readonly pool: ConnectionPool;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: FetcherOptions,
    connectionOptions: ConstructorParameters<typeof ConnectionPool>[1],
  ) {
    this.pool = new ConnectionPool(`${consumer.clientId}-fetch`, connectionOptions);
  }

  /** Fetches every position once; a broker that fails fails only its partitions. */
  async fetch(positions: readonly PartitionPosition[]): Promise<PartitionResult[]> {
    if (positions.length === 0) return [];
    const topics = [...new Set(positions.map((p) => p.topic))];
    let metadata;
    try {
      metadata = await this.consumer.metadata({ topics });
    } catch (error) {
      return positions.map((position) => ({ kind: 'failed', position, error: error as Error }));
    }
    const byNode = new Map<number, PartitionPosition[]>();
    for (const position of positions) {
      const leader = metadata.topics.get(position.topic)?.partitions[position.partition]?.leader ?? -1;
      const list = byNode.get(leader);
      if (list === undefined) byNode.set(leader, [position]);
      else list.push(position);
    }
    const rounds = [...byNode].map(async ([node, wanted]): Promise<PartitionResult[]> => {
      if (node < 0) {
        this.consumer.clearMetadata();
        return wanted.map((position) => ({ kind: 'failed', position, error: new Error(`no leader known for ${position.topic} partition ${position.partition}`) }));
      }
      const ids = new Map<string, string>();
      const request = new Map<string, FetchRequestTopic>();
      for (const p of wanted) {
        const id = metadata.topics.get(p.topic)!.id;
        ids.set(id, p.topic);
        let topic = request.get(id);
        if (topic === undefined) request.set(id, (topic = { topicId: id, partitions: [] }));
        topic.partitions.push({ partition: p.partition, fetchOffset: p.offset, partitionMaxBytes: this.options.maxBytesPerPartition, currentLeaderEpoch: -1, lastFetchedEpoch: -1 });
      }
      let response: FetchResponse;
      try {
        response = await this.consumer.fetch({
          node,
          topics: [...request.values()],
          maxWaitTime: this.options.maxWaitMs,
          minBytes: 1,
          maxBytes: MAX_BYTES_PER_FETCH,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          connectionPool: this.pool,
        });
      } catch (error) {
        return this.failedRound(error as Error, wanted, ids);
      }
      return this.results(response, wanted, ids);
    });
    return (await Promise.all(rounds)).flat();
  }

  private results(response: FetchResponse, wanted: readonly PartitionPosition[], ids: ReadonlyMap<string, string>): PartitionResult[] {
    const at = new Map(wanted.map((p) => [`${p.topic}:${p.partition}`, p]));
    const results: PartitionResult[] = [];
    for (const topicResponse of response.responses) {
      const topic = ids.get(topicResponse.topicId);
      if (topic === undefined) continue;
      for (const data of topicResponse.partitions) {
        const position = at.get(`${topic}:${data.partitionIndex}`);
        // An incremental fetch session can answer for partitions not asked for this time.
        if (position === undefined) continue;
        at.delete(`${topic}:${data.partitionIndex}`);
        results.push({ kind: 'fetched', position, fetch: partitionRecords(topic, data, position.offset) });
      }
    }
    // Partitions the broker had nothing for (a session omits unchanged ones): an empty fetch.
    for (const position of at.values()) results.push({ kind: 'fetched', position, fetch: { records: [], lastOffset: undefined } });
    return results;
  }

  /** A failed fetch: partitions out of range are told apart, the others carry the error. */
  private failedRound(error: Error, wanted: readonly PartitionPosition[], ids: ReadonlyMap<string, string>): PartitionResult[] {
    const response = findIn(error, 'apiId', 'OFFSET_OUT_OF_RANGE') !== undefined ? fetchResponseIn(error) : undefined;
    const outOfRange = new Map<string, { logStart: bigint; highWatermark: bigint }>();
    for (const topicResponse of response?.responses ?? []) {
      const topic = ids.get(topicResponse.topicId);
      for (const data of topicResponse.partitions) {
        if (topic !== undefined && data.errorCode === OFFSET_OUT_OF_RANGE_CODE) outOfRange.set(`${topic}:${data.partitionIndex}`, { logStart: data.logStartOffset, highWatermark: data.highWatermark });
      }
    }
    return wanted.map((position): PartitionResult => {
      const range = outOfRange.get(`${position.topic}:${position.partition}`);
      return range === undefined ? { kind: 'failed', position, error } : { kind: 'out-of-range', position, ...range };
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Kafka's error code OFFSET_OUT_OF_RANGE. */
const OFFSET_OUT_OF_RANGE_CODE = 1;

/** The fetch response a ResponseError carries, wherever the retries nested it. */
function fetchResponseIn(error: unknown, depth = 0): FetchResponse | undefined {
  if (!(error instanceof Error) || depth > 5) return undefined;
  const response = (error as { response?: Partial<FetchResponse> }).response;
  if (response !== undefined && Array.isArray(response.responses)) return response as FetchResponse;
  const nested = error instanceof AggregateError ? (error.errors as unknown[]) : [];
  for (const inner of [...nested, error.cause]) {
    const found = fetchResponseIn(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
