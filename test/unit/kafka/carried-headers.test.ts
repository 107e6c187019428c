/**
 * Which source headers flowyard carries (README "Producing to flowyard"): everything but its
 * own `fy-*` namespace and `traceparent`, byte-exact (binary values too), repeated names with
 * every value; and on the way out flowyard's headers and the carried ones merge with the
 * carried bytes winning only for names flowyard does not set.
 */
import { carriedHeaders } from '../../../src/kafka/records.js';
import { toMessages } from '../../../src/kafka/kafkajs/producer.js';
import { toConsumedRecord } from '../../../src/kafka/kafkajs/records.js';
import { deadLetterRecord } from '../../../src/runtime/dead-letter.js';

const binary = Buffer.from([0xff, 0x00, 0xfe]);

test('carried: foreign headers byte-exact and repeated; fy-* (any case) and traceparent are not', () => {
  const carried = carriedHeaders({
    'x-tenant': Buffer.from('acme'),
    'x-blob': binary,
    'x-tag': [Buffer.from('a'), Buffer.from('b')],
    'fy-event-id': Buffer.from('forged'),
    'FY-Plan': Buffer.from('forged'),
    traceparent: Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
    tracestate: Buffer.from('vendor=1'),
  });
  expect(carried).toEqual({ 'x-tenant': Buffer.from('acme'), 'x-blob': binary, 'x-tag': [Buffer.from('a'), Buffer.from('b')], tracestate: Buffer.from('vendor=1') });
  expect(carriedHeaders({ 'fy-plan': Buffer.from('p') })).toBeUndefined();
  expect(carriedHeaders(undefined)).toBeUndefined();
});

test('a dead letter of a record with a binary header keeps its bytes, with flowyard headers added', () => {
  const origin = toConsumedRecord('orders', 0, {
    key: null,
    value: Buffer.from('x'),
    timestamp: '0',
    attributes: 0,
    offset: '7',
    headers: { 'x-blob': binary, 'fy-event-id': Buffer.from('forged') },
  });
  const [message] = toMessages([deadLetterRecord({ origin, errorClass: 'invalid', error: 'not JSON', destination: 'router', attempts: 0 })]);
  expect(message!.headers!['x-blob']).toEqual(binary);
  expect(message!.headers!['fy-error-class']).toBe('invalid');
  expect(message!.headers!['fy-origin']).toBe('orders/0/7');
});

test('a record going out carries flowyard\'s headers and the carried ones', () => {
  const [message] = toMessages([{ key: 'k', value: 'v', headers: { 'fy-event-id': 'e-1' }, carriedHeaders: { 'x-tenant': Buffer.from('acme') } }]);
  expect(message!.headers).toEqual({ 'fy-event-id': 'e-1', 'x-tenant': Buffer.from('acme') });
});

test('copies of one event share one merged header object, and a different event gets its own', () => {
  const headers = { 'fy-event-id': Buffer.from('e-1') };
  const carried = { 'x-tenant': Buffer.from('acme') };
  const other = { 'fy-event-id': Buffer.from('e-2') };
  const messages = toMessages([
    { key: 'k', value: 'v', headers, carriedHeaders: carried },
    { key: 'k', value: 'v', headers, carriedHeaders: carried },
    { key: 'k', value: 'v', headers: other, carriedHeaders: carried },
  ]);
  expect(messages[0]!.headers).toBe(messages[1]!.headers);
  expect(messages[2]!.headers).not.toBe(messages[0]!.headers);
  expect(messages[2]!.headers).toEqual({ 'fy-event-id': Buffer.from('e-2'), 'x-tenant': Buffer.from('acme') });
});
