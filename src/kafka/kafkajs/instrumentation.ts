/**
 * The Kafka requests kafkajs' producers and consumers make (kafkajs' REQUEST instrumentation
 * events), for the bench's round trips per event (bench/lib.mjs countRoundTrips). Not part of
 * the port: other backends report nothing here. A client gets a listener only when one is
 * registered before it is made, so without the bench this costs nothing.
 */
import type { Consumer, Producer, RequestEvent } from 'kafkajs';

export type KafkaRequestListener = (kind: 'producer' | 'consumer', request: RequestEvent['payload']) => void;

const listeners = new Set<KafkaRequestListener>();

/** Calls `listener` for every request of the kafkajs producers and consumers made from now on; returns the unsubscribe. */
export function onKafkajsRequest(listener: KafkaRequestListener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

export function instrumentProducer(producer: Producer): Producer {
  if (listeners.size > 0) producer.on(producer.events.REQUEST, (event) => listeners.forEach((listener) => listener('producer', event.payload)));
  return producer;
}

export function instrumentConsumer(consumer: Consumer): Consumer {
  if (listeners.size > 0) consumer.on(consumer.events.REQUEST, (event) => listeners.forEach((listener) => listener('consumer', event.payload)));
  return consumer;
}
