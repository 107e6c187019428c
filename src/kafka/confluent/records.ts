/** flowyard's records to and from the native client's messages. */
import type { Message, MessageHeader } from '@confluentinc/kafka-javascript';
import { carriedHeaders, decodeHeaders, withCarried, type ConsumedRecord, type OutgoingRecord } from '../records.js';

/**
 * A record's headers in the native client's form: one `{ name: value }` per header, in order,
 * so a carried header repeated by its producer keeps every value. Carried headers come last
 * and win over a flowyard header of the same name (a dead letter's copy of its origin's
 * headers keeps the exact bytes), as with the kafkajs backend.
 */
export function nativeHeaders(record: OutgoingRecord): MessageHeader[] | undefined {
  const { headers, carriedHeaders: carried } = record;
  if (headers === undefined && carried === undefined) return undefined;
  const list: MessageHeader[] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (carried === undefined || !(name in carried)) list.push({ [name]: value });
  }
  for (const [name, value] of Object.entries(carried ?? {})) {
    for (const one of Buffer.isBuffer(value) ? [value] : value) list.push({ [name]: one });
  }
  return list;
}

/** A native message's headers grouped by name (repeated names keep every value, in order). */
function groupHeaders(headers: readonly MessageHeader[] | undefined): Record<string, Buffer | Buffer[]> | undefined {
  if (headers === undefined || headers.length === 0) return undefined;
  const grouped: Record<string, Buffer | Buffer[]> = {};
  for (const header of headers) {
    for (const [name, raw] of Object.entries(header)) {
      const value = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      const known = grouped[name];
      if (known === undefined) grouped[name] = value;
      else if (Array.isArray(known)) known.push(value);
      else grouped[name] = [known, value];
    }
  }
  return grouped;
}

export function toConsumedRecord(message: Message): ConsumedRecord {
  const headers = groupHeaders(message.headers);
  const key = message.key;
  return {
    topic: message.topic,
    partition: message.partition,
    offset: String(message.offset),
    key: key === undefined || key === null ? null : Buffer.isBuffer(key) ? key : Buffer.from(key),
    value: message.value ?? null,
    headers: decodeHeaders(headers),
    ...withCarried(carriedHeaders(headers)),
    timestamp: message.timestamp ?? 0,
  };
}
