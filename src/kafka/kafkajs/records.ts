import type { KafkaMessage } from 'kafkajs';
import { carriedHeaders, decodeHeaders, withCarried, type ConsumedRecord } from '../records.js';

export function toConsumedRecord(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: decodeHeaders(message.headers),
    ...withCarried(carriedHeaders(message.headers)),
    timestamp: Number(message.timestamp),
  };
}
