import type { IHeaders, KafkaMessage } from 'kafkajs';

/** A consumed record, independent of the client library. Offsets are int64 strings. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Broker or producer timestamp, ms since epoch. */
  readonly timestamp: number;
}

/** A record to produce. */
export interface OutgoingRecord {
  readonly key: string | Buffer | null;
  readonly value: Buffer | string | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly partition?: number;
}

export interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read (Kafka commit convention: last processed + 1). */
  readonly offset: string;
}

/** Header values arrive as Buffers (or arrays for repeated keys); flowyard headers are UTF-8 strings, last one wins. */
export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  if (!headers) return decoded;
  for (const [name, raw] of Object.entries(headers)) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined) continue;
    decoded[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return decoded;
}

export function toConsumedRecord(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: decodeHeaders(message.headers),
    timestamp: Number(message.timestamp),
  };
}

/** The offset to commit after processing `offset`. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}
