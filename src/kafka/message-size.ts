/**
 * Record sizes against a topic's `max.message.bytes`. The broker refuses a record batch larger
 * than its topic's `max.message.bytes` (MESSAGE_TOO_LARGE, not retriable): retrying the same
 * record can never succeed, so callers that would retry forever ask these helpers which
 * records cannot fit and dead-letter those instead.
 */
import kafkajs from 'kafkajs';
import type { KafkaClient } from './client.js';
import { retryWhileRetriable } from './retriable.js';
import type { OutgoingRecord } from './records.js';

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

/** True when the broker refused a record batch as too large for its topic (directly or inside a wrapped or aggregate error). */
export function isMessageTooLarge(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { type, cause, originalError, errors } = error as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') return true;
  const nested = [cause, originalError, ...(Array.isArray(errors) ? (errors as unknown[]) : [])];
  return nested.some((inner) => isMessageTooLarge(inner, depth + 1));
}

export interface MessageLimit {
  /** The topic's `max.message.bytes`. */
  readonly bytes: number;
  /** Set on the topic itself, not inherited from the broker's `message.max.bytes`. */
  readonly own: boolean;
}

/** `max.message.bytes` of each existing topic among `topics` (its own setting, else the broker's `message.max.bytes`). */
export async function maxMessageBytes(kafka: KafkaClient, topics: readonly string[]): Promise<Map<string, MessageLimit>> {
  const limits = new Map<string, MessageLimit>();
  if (topics.length === 0) return limits;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await retryWhileRetriable(() => admin.listTopics()));
    const asked = [...new Set(topics)].filter((t) => existing.has(t));
    if (asked.length === 0) return limits;
    const described = await retryWhileRetriable(() =>
      admin.describeConfigs({
        includeSynonyms: false,
        resources: asked.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
      }),
    );
    for (const resource of described.resources) {
      const entry = resource.configEntries.find((e) => e.configName === 'max.message.bytes');
      if (entry !== undefined) limits.set(resource.resourceName, { bytes: Number(entry.configValue), own: !entry.isDefault });
    }
    return limits;
  } finally {
    await admin.disconnect();
  }
}
