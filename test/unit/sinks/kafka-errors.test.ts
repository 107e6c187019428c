/**
 * What a produce error means for the event. The kafkajs backend classifies by the flag at the
 * error's root, read through the non-retriable KafkaJSNumberOfRetriesExceeded wrapper kafkajs
 * puts around the last error of its own retries (a broker that stayed down must not
 * dead-letter good events); the kafka sink turns the port's kind into its SinkError kind.
 */
import kafkajs from 'kafkajs';
import { InvalidInputError } from '../../../src/errors.js';
import { classifyKafkajsError } from '../../../src/kafka/kafkajs/errors.js';
import { produceErrorKind } from '../../../src/sinks/kafka/sink.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSNonRetriableError } = kafkajs;

/** kafkajs builds protocol errors from its error table entry (type, code, retriable, message); its typings say Error. */
const protocolError = (type: string, code: number, retriable: boolean, message: string) => new KafkaJSProtocolError(Object.assign(new Error(message), { type, code, retriable }));

describe('kafkajs error kinds', () => {
  test('a retriable cause stays retriable, also wrapped in KafkaJSNumberOfRetriesExceeded', () => {
    const down = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    expect(classifyKafkajsError(down)).toBe('retriable');
    expect(classifyKafkajsError(new KafkaJSNumberOfRetriesExceeded(down, { retryCount: 5, retryTime: 3_000 }))).toBe('retriable');
  });

  test('MESSAGE_TOO_LARGE is too-large, wrapped or not', () => {
    const tooLarge = protocolError('MESSAGE_TOO_LARGE', 10, false, 'The request included a message larger than the max message size the server will accept');
    expect(classifyKafkajsError(tooLarge)).toBe('too-large');
    expect(classifyKafkajsError(new KafkaJSNumberOfRetriesExceeded(tooLarge, { retryCount: 0, retryTime: 0 }))).toBe('too-large');
  });

  test('an error non-retriable at its root is permanent, wrapped or not; so is a refused login (InvalidInputError)', () => {
    const denied = protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false, 'Not authorized to access topics: [Topic authorization failed]');
    expect(classifyKafkajsError(denied)).toBe('permanent');
    expect(classifyKafkajsError(new KafkaJSNumberOfRetriesExceeded(denied, { retryCount: 0, retryTime: 0 }))).toBe('permanent');
    expect(classifyKafkajsError(new KafkaJSNonRetriableError('invalid record'))).toBe('permanent');
    expect(classifyKafkajsError(new InvalidInputError('environment: KAFKA_SASL_PASSWORD: refused', ['refused']))).toBe('permanent');
  });

  test('an error without a flag (not from kafkajs) is retriable', () => {
    expect(classifyKafkajsError(new Error('socket hang up'))).toBe('retriable');
  });
});

test('the kafka sink dead-letters what the port calls too large or permanent, and retries the rest', () => {
  expect(produceErrorKind('retriable')).toBe('retriable');
  expect(produceErrorKind('too-large')).toBe('permanent');
  expect(produceErrorKind('permanent')).toBe('permanent');
});
