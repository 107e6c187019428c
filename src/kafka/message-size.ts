/**
 * Record sizes against a topic's `max.message.bytes`. The broker refuses a record batch larger
 * than its topic's `max.message.bytes` (MESSAGE_TOO_LARGE, not retriable): retrying the same
 * record can never succeed, so callers that would retry forever ask these helpers which
 * records cannot fit and dead-letter those instead.
 */
import type { KafkaPort } from './port.js';
import type { OutgoingRecord } from './records.js';
import { retryWhileRetriable } from './retriable.js';

/**
 * Framing one record pays besides key, value and header bytes when it is alone in its batch:
 * the v2 batch header (61 bytes), the record's attributes, deltas and varint lengths. Generous
 * on purpose: under-estimating sends a record the broker then refuses.
 */
const FRAMING_BYTES = 128;
/** Varint lengths of one header's name and value. */
const HEADER_FRAMING_BYTES = 10;

function byteLength(value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/** Uncompressed bytes `record` takes in a batch of its own: an upper bound of what the broker checks. */
export function estimateRecordBytes(record: OutgoingRecord): number {
  let bytes = FRAMING_BYTES + byteLength(record.key) + byteLength(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) bytes += HEADER_FRAMING_BYTES + byteLength(name) + byteLength(value);
  // Headers of other systems the record carries (a name in both counts twice: an over-estimate is safe).
  for (const [name, value] of Object.entries(record.carriedHeaders ?? {})) {
    for (const one of Buffer.isBuffer(value) ? [value] : value) bytes += HEADER_FRAMING_BYTES + byteLength(name) + one.length;
  }
  return bytes;
}

export interface MessageLimit {
  /** The topic's `max.message.bytes`. */
  readonly bytes: number;
  /** Set on the topic itself, not inherited from the broker's `message.max.bytes`. */
  readonly own: boolean;
}

/** `max.message.bytes` of each existing topic among `topics` (its own setting, else the broker's `message.max.bytes`). */
export async function maxMessageBytes(kafka: KafkaPort, topics: readonly string[]): Promise<Map<string, MessageLimit>> {
  const limits = new Map<string, MessageLimit>();
  if (topics.length === 0) return limits;
  const admin = kafka.admin();
  try {
    const configs = await retryWhileRetriable(kafka, () => admin.topicConfigs([...new Set(topics)], ['max.message.bytes']));
    for (const [topic, values] of configs) {
      const entry = values.get('max.message.bytes');
      if (entry !== undefined) limits.set(topic, { bytes: Number(entry.value), own: entry.own });
    }
    return limits;
  } finally {
    await admin.disconnect();
  }
}
