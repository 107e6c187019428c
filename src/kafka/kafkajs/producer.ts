import kafkajs, { type IHeaders, type Message, type Producer } from 'kafkajs';
import type { ProducerOptions } from '../port.js';
import type { CarriedHeaders, OutgoingRecord } from '../records.js';
import type { KafkaClient } from './client.js';

const { Partitioners } = kafkajs;

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

export function toMessages(records: readonly OutgoingRecord[]): Message[] {
  /** Merged headers per (headers, carried headers) pair: the copies of one event share theirs. */
  const merged = new Map<object, { readonly carried: CarriedHeaders; readonly headers: IHeaders }>();
  const headersOf = (r: OutgoingRecord): IHeaders | undefined => {
    if (r.carriedHeaders === undefined) return r.headers;
    const owner = r.headers ?? r.carriedHeaders;
    const known = merged.get(owner);
    if (known?.carried === r.carriedHeaders) return known.headers;
    // Carried headers last: for a name in both (a dead letter's copy of its origin's headers) the exact bytes win.
    const headers: IHeaders = { ...r.headers, ...copyCarried(r.carriedHeaders) };
    merged.set(owner, { carried: r.carriedHeaders, headers });
    return headers;
  };
  return records.map((r) => {
    // kafkajs only reads the headers: one object shared by a record's copies, not a copy per message.
    const headers = headersOf(r);
    return {
      key: r.key,
      value: r.value,
      ...(headers !== undefined && { headers }),
      ...(r.partition !== undefined && { partition: r.partition }),
    };
  });
}

function copyCarried(carried: CarriedHeaders | undefined): Record<string, Buffer | Buffer[]> {
  return Object.fromEntries(Object.entries(carried ?? {}).map(([name, value]) => [name, Buffer.isBuffer(value) ? value : [...value]]));
}

/** Bytes of values and keys per request; well under the broker's default 1 MB message.max.bytes. */
export const MAX_REQUEST_BYTES = 512 * 1024;

function sizeOf(record: OutgoingRecord): number {
  const bytes = (v: string | Buffer | null) => (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  return bytes(record.key) + bytes(record.value) + 64;
}

/** Splits records per topic into requests of at most MAX_REQUEST_BYTES (a single larger record goes alone). */
export function chunkByBytes(byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>): { topic: string; messages: ReturnType<typeof toMessages> }[][] {
  const chunks: { topic: string; messages: ReturnType<typeof toMessages> }[][] = [];
  let current = new Map<string, OutgoingRecord[]>();
  let bytes = 0;
  const flush = () => {
    if (current.size > 0) chunks.push([...current].map(([topic, records]) => ({ topic, messages: toMessages(records) })));
    current = new Map();
    bytes = 0;
  };
  for (const [topic, records] of byTopic) {
    for (const record of records) {
      const size = sizeOf(record);
      if (bytes > 0 && bytes + size > MAX_REQUEST_BYTES) flush();
      const list = current.get(topic) ?? [];
      list.push(record);
      current.set(topic, list);
      bytes += size;
    }
  }
  flush();
  return chunks;
}
