import kafkajs from 'kafkajs';
import { kafkaLogLevel } from '../../../src/kafka/kafkajs/client.js';

const { logLevel } = kafkajs;

describe('kafkaLogLevel', () => {
  test('routine, retried broker answers go to debug', () => {
    const concurrent = { message: 'Response AddPartitionsToTxn(key: 24, version: 1)', error: 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing' };
    expect(kafkaLogLevel(logLevel.ERROR, concurrent)).toBe(logLevel.DEBUG);
    expect(kafkaLogLevel(logLevel.ERROR, { message: 'Failed to send messages: The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing' })).toBe(logLevel.DEBUG);
    expect(kafkaLogLevel(logLevel.ERROR, { message: 'Response GroupCoordinator(key: 10, version: 2)', error: 'The group coordinator is not available' })).toBe(logLevel.DEBUG);
  });

  test('every other error keeps its level', () => {
    expect(kafkaLogLevel(logLevel.ERROR, { message: 'Response SaslAuthenticate(key: 36, version: 1)', error: 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512' })).toBe(logLevel.ERROR);
    expect(kafkaLogLevel(logLevel.WARN, { message: 'The group coordinator is not available' })).toBe(logLevel.WARN);
  });
});
