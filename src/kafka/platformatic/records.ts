/**
 * flowyard's records to and from @platformatic/kafka's: headers as Buffer pairs (a repeated
 * name is one pair per value), offsets and timestamps as bigint, batches as the broker sent them.
 */
import { IS_CONTROL, IS_TRANSACTIONAL, murmur2, type fetchV17, type KafkaRecord, type MessageToProduce, type RecordsBatch } from '@platformatic/kafka';
import { carriedHeaders, decodeHeaders, withCarried, type ConsumedRecord, type OutgoingRecord } from '../records.js';
import type { TopicRecords } from '../port.js';

type Headers = Map<Buffer, Buffer>;

/**
 * The library's header map per headers object, for records that carry no foreign headers: the
 * router's copies of one event share their headers object, so it is encoded once, not once per
 * copy (the library only reads the map).
 */
const headerMaps = new WeakMap<object, Headers>();
/** The bytes of flowyard's own header names, encoded once per process; bounded, in case a caller names headers freely. */
const nameBytes = new Map<string, Buffer>();
const NAMES_KEPT = 64;

function ownName(name: string): Buffer {
  let bytes = nameBytes.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(name);
    if (nameBytes.size < NAMES_KEPT) nameBytes.set(name, bytes);
  }
  return bytes;
}

function headerBytes(value: string | Buffer): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value);
}

function headersOf(record: OutgoingRecord): Headers | undefined {
  const own = record.headers ?? {};
  const carried = record.carriedHeaders;
  if (carried === undefined) {
    if (record.headers === undefined) return undefined;
    let shared = headerMaps.get(own);
    if (shared === undefined) {
      shared = new Map();
      for (const name in own) shared.set(ownName(name), headerBytes(own[name]!));
      headerMaps.set(own, shared);
    }
    return shared;
  }
  // Distinct Buffer keys: a repeated carried name keeps every value, in order.
  const headers: Headers = new Map();
  for (const name in own) {
    // A name in both (a dead letter's copy of its origin's headers): the carried bytes win, as with kafkajs.
    if (!(name in carried)) headers.set(ownName(name), headerBytes(own[name]!));
  }
  for (const [name, value] of Object.entries(carried)) {
    const key = Buffer.from(name);
    for (const one of Buffer.isBuffer(value) ? [value] : value) headers.set(Buffer.from(key), one);
  }
  return headers;
}

function bytes(value: string | Buffer | null): Buffer | undefined {
  if (value === null) return undefined;
  return Buffer.isBuffer(value) ? value : Buffer.from(value);
}

export function toMessages(batch: readonly TopicRecords[]): MessageToProduce[] {
  const messages: MessageToProduce[] = [];
  for (const { topic, records } of batch) {
    for (const record of records) {
      const headers = headersOf(record);
      const message: MessageToProduce = { topic };
      const key = bytes(record.key);
      const value = bytes(record.value);
      if (key !== undefined) message.key = key;
      if (value !== undefined) message.value = value;
      if (headers !== undefined) message.headers = headers;
      if (record.partition !== undefined) message.partition = record.partition;
      messages.push(message);
    }
  }
  return messages;
}

let roundRobin = 0;

/**
 * Java's and kafkajs' default partitioner: murmur2 of the key, made positive with 0x7fffffff (the
 * library's own default uses `>>> 0`, which puts a third of the keys on other partitions than a
 * Java or kafkajs producer would). Keyless records go round-robin. The library takes the result
 * modulo the topic's partition count.
 */
export function javaCompatiblePartitioner(_message: MessageToProduce, key: Buffer | undefined): number {
  if (key === undefined) return (roundRobin = (roundRobin + 1) & 0x7fffffff);
  return murmur2(key) & 0x7fffffff;
}

function consumedRecord(topic: string, partition: number, batch: RecordsBatch, record: KafkaRecord, offset: bigint): ConsumedRecord {
  const raw: Record<string, Buffer | Buffer[]> = {};
  for (const [name, value] of record.headers) {
    if (name === null) continue;
    const key = name.toString();
    const bytes = value ?? Buffer.alloc(0);
    const known = raw[key];
    if (known === undefined) raw[key] = bytes;
    else if (Array.isArray(known)) known.push(bytes);
    else raw[key] = [known, bytes];
  }
  return {
    topic,
    partition,
    offset: offset.toString(),
    key: record.key,
    value: record.value,
    headers: decodeHeaders(raw),
    ...withCarried(carriedHeaders(raw)),
    timestamp: Number(batch.firstTimestamp + record.timestampDelta),
  };
}

/** What one fetch returned for one partition, from `from` on. */
export interface PartitionFetch {
  readonly records: ConsumedRecord[];
  /** The last offset the fetch covered (records, transaction markers, aborted records); undefined when it covered none. */
  readonly lastOffset: bigint | undefined;
}

const ABORT_MARKER = 0;

/**
 * The committed records of a fetched partition at or after `from`, in offset order, and the
 * last offset the fetch covered. Aborted transactions are dropped the way the Java consumer does
 * it: a producer's transactional batches from the aborted transaction's first offset until its
 * abort marker. (The library filters only aborted ranges whose marker is in the same response,
 * so a fetch cut off before the marker would hand over aborted records.)
 */
export function partitionRecords(topic: string, data: fetchV17.FetchResponsePartition, from: bigint): PartitionFetch {
  const batches = data.records ?? [];
  const records: ConsumedRecord[] = [];
  let lastOffset: bigint | undefined;
  const pending = [...(data.abortedTransactions ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const aborting = new Set<bigint>();
  for (const batch of batches) {
    const batchLast = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (pending.length > 0 && pending[0]!.firstOffset <= batchLast) aborting.add(pending.shift()!.producerId);
    if (lastOffset === undefined || batchLast > lastOffset) lastOffset = batchLast;
    if (batch.attributes & IS_CONTROL) {
      const type = batch.records[0]?.key?.readInt16BE(2);
      if (type === ABORT_MARKER) aborting.delete(batch.producerId);
      continue;
    }
    if (batch.attributes & IS_TRANSACTIONAL && aborting.has(batch.producerId)) continue;
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta);
      // A compressed batch comes whole, also when the fetch asked for an offset inside it.
      if (offset >= from) records.push(consumedRecord(topic, data.partitionIndex, batch, record, offset));
    }
  }
  return { records, lastOffset: lastOffset !== undefined && lastOffset >= from ? lastOffset : undefined };
}
