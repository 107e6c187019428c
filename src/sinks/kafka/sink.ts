/**
 * The `kafka` sink: produces each event to its topic, keyed by the causal key, with the
 * original value bytes and flowyard's headers. Idempotent producer (acks=all), so broker
 * retries never duplicate; a redelivered event is stopped earlier by the worker's done-key.
 */
import type { Producer } from 'kafkajs';
import { createProducer, produce } from '../../kafka/producer.js';
import type { SinkConfig } from '../../topology/plan.js';
import type { SinkContext } from '../define.js';
import { SinkError, type Sink, type SinkRecord } from '../sink.js';
import type { KafkaSinkConfig } from './config.js';

export function createKafkaSink(config: SinkConfig, context: SinkContext): Sink {
  const { topic } = config as KafkaSinkConfig;
  let producer: Producer | undefined;
  return {
    async start() {
      producer = await createProducer(context.kafka);
    },
    async write(record: SinkRecord, signal: AbortSignal) {
      if (producer === undefined) throw new Error('kafka sink written before start()');
      signal.throwIfAborted();
      try {
        await produce(producer, topic, [{ key: record.key, value: record.value, headers: record.headers }]);
      } catch (error) {
        // Unknown topic or authorisation failures do not heal by retrying one event, but
        // kafkajs marks them non-retriable itself; everything else is the broker's trouble.
        const retriable = (error as { retriable?: boolean }).retriable !== false;
        throw new SinkError(`produce to ${topic} failed: ${(error as Error).message}`, retriable ? 'retriable' : 'permanent', { cause: error });
      }
    },
    async close() {
      await producer?.disconnect();
      producer = undefined;
    },
  };
}
