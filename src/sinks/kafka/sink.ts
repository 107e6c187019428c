/**
 * The `kafka` sink: produces each event to its topic, keyed by the causal key, with the
 * original value bytes, flowyard's headers and the source record's headers from other systems
 * (byte-exact; flowyard's `fy-*` win). Idempotent producer (acks=all), so broker
 * retries never duplicate; a redelivered event is stopped earlier by the worker's done-key.
 */
import { RuntimeFailure } from '../../errors.js';
import type { KafkaErrorKind, KafkaProducer } from '../../kafka/port.js';
import { produce } from '../../kafka/producer.js';
import { withCarried } from '../../kafka/records.js';
import { missingTopics } from '../../kafka/topics.js';
import type { SinkConfig } from '../../topology/plan.js';
import type { SinkContext } from '../define.js';
import { untilAborted } from '../../resilience/abort.js';
import { SinkError, type Sink, type SinkRecord } from '../sink.js';
import type { KafkaSinkConfig } from './config.js';

export function createKafkaSink(config: SinkConfig, context: SinkContext): Sink {
  const { topic } = config as KafkaSinkConfig;
  let producer: KafkaProducer | undefined;
  return {
    async start() {
      // A missing topic would fail every write after the client's metadata retries; say so at start,
      // as the postgres sink does for a missing table (auto-creation is off on flowyard's brokers).
      let missing: string[];
      try {
        missing = await missingTopics(context.kafka, [topic]);
      } catch (error) {
        throw new RuntimeFailure(`kafka sink of destination ${context.destination} cannot read the metadata of topic ${topic}: ${(error as Error).message}`, { cause: error });
      }
      if (missing.length > 0) {
        throw new RuntimeFailure(`kafka sink of destination ${context.destination}: topic ${topic} does not exist; create it with \`flowyard topics create <topology file>\``);
      }
      producer = await context.kafka.producer();
    },
    async write(record: SinkRecord, signal: AbortSignal) {
      if (producer === undefined) throw new Error('kafka sink written before start()');
      signal.throwIfAborted();
      try {
        // A produce the signal cut short may still be acknowledged later: a repeat the sink's
        // at-least-once contract allows (readers drop repeats by fy-event-id).
        await untilAborted(produce(producer, topic, [{ key: record.key, value: record.value, headers: record.headers, ...withCarried(record.carriedHeaders) }]), signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw new SinkError(`produce to ${topic} failed: ${(error as Error).message}`, produceErrorKind(context.kafka.classify(error)), { cause: error });
      }
    },
    async close() {
      await producer?.disconnect();
      producer = undefined;
    },
  };
}

/**
 * Whether another attempt can help: the port's kind of the produce error. A record too large for
 * the topic never fits, so it is permanent for the event (dead-lettered), as is any error the
 * port calls permanent (authorisation, an invalid record); a broker that stayed unreachable or a
 * leader election that outlasted the client's retries is retriable, so good events are not
 * dead-lettered.
 */
export function produceErrorKind(kind: KafkaErrorKind): 'retriable' | 'permanent' {
  return kind === 'retriable' ? 'retriable' : 'permanent';
}
