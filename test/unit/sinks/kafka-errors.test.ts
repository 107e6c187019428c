/**
 * What a kafkajs produce error means for the event: the flag at the error's root decides, read
 * through the non-retriable KafkaJSNumberOfRetriesExceeded wrapper kafkajs puts around the
 * last error of its own retries (a broker that stayed down must not dead-letter good events).
 */
import kafkajs from 'kafkajs';
import { produceErrorKind } from '../../../src/sinks/kafka/sink.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSNonRetriableError } = kafkajs;

describe('kafka sink error kinds', () => {
  test('a retriable cause stays retriable, also wrapped in KafkaJSNumberOfRetriesExceeded', () => {
    const down = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    expect(produceErrorKind(down)).toBe('retriable');
    expect(produceErrorKind(new KafkaJSNumberOfRetriesExceeded(down, { retryCount: 5, retryTime: 3_000 }))).toBe('retriable');
  });

  test('an error non-retriable at its root is permanent, wrapped or not', () => {
    // kafkajs builds protocol errors from its error table entry (type, code, retriable, message); its typings say Error.
    const entry = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false });
    const tooLarge = new KafkaJSProtocolError(entry);
    expect(produceErrorKind(tooLarge)).toBe('permanent');
    expect(produceErrorKind(new KafkaJSNumberOfRetriesExceeded(tooLarge, { retryCount: 0, retryTime: 0 }))).toBe('permanent');
    expect(produceErrorKind(new KafkaJSNonRetriableError('invalid record'))).toBe('permanent');
  });

  test('an error without a flag (not from kafkajs) is retriable', () => {
    expect(produceErrorKind(new Error('socket hang up'))).toBe('retriable');
  });
});
