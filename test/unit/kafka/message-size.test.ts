/**
 * Sizes against max.message.bytes, without I/O: the estimate bounds key, value and headers;
 * a broker refusal is recognised however kafkajs wraps it; a dead letter too large for its
 * topic keeps the start of its value and records the original size, one that fits is untouched.
 */
import { estimateRecordBytes } from '../../../src/kafka/message-size.js';
import { isMessageTooLarge } from '../../../src/kafka/kafkajs/errors.js';
import { fitDeadLetter } from '../../../src/runtime/dead-letter.js';

test('the estimate counts key, value and every header name and value, plus framing', () => {
  const bare = estimateRecordBytes({ key: null, value: null });
  expect(estimateRecordBytes({ key: 'k', value: Buffer.alloc(1000), headers: { 'fy-a': 'xyz' } })).toBe(bare + 1 + 1000 + 10 + 4 + 3);
  expect(estimateRecordBytes({ key: 'é', value: 'é' })).toBe(bare + 4); // bytes, not characters
});

test.each([
  ['the protocol error itself', { type: 'MESSAGE_TOO_LARGE' }, true],
  ['RECORD_LIST_TOO_LARGE', { type: 'RECORD_LIST_TOO_LARGE' }, true],
  ['wrapped as a cause', new Error('send failed', { cause: { type: 'MESSAGE_TOO_LARGE' } }), true],
  ['inside an aggregate', { errors: [{ type: 'NOT_LEADER_FOR_PARTITION' }, { originalError: { type: 'MESSAGE_TOO_LARGE' } }] }, true],
  ['another broker error', { type: 'NOT_LEADER_FOR_PARTITION' }, false],
  ['not an object', 'MESSAGE_TOO_LARGE', false],
])('isMessageTooLarge: %s', (_name, error, expected) => {
  expect(isMessageTooLarge(error)).toBe(expected);
});

test('fitDeadLetter cuts the value of a dead letter that does not fit and says how large it was', () => {
  const value = Buffer.from('x'.repeat(5_000));
  const letter = { key: 'k', value, headers: { 'fy-origin': 'src/0/7' } };
  const fitted = fitDeadLetter(letter, 2_000);
  expect(estimateRecordBytes(fitted)).toBeLessThanOrEqual(2_000);
  expect(fitted.headers).toEqual({ 'fy-origin': 'src/0/7', 'fy-truncated': '5000' });
  expect((fitted.value as Buffer).length).toBeGreaterThan(1_500);
  expect(value.subarray(0, (fitted.value as Buffer).length).equals(fitted.value as Buffer)).toBe(true);
});

test('fitDeadLetter leaves a dead letter that fits as it is', () => {
  const letter = { key: 'k', value: Buffer.from('small'), headers: { 'fy-origin': 'src/0/7' } };
  expect(fitDeadLetter(letter, 2_000)).toBe(letter);
});
