/**
 * Structured sinks accept Avro-decoded records (issue 7): longs beyond 2^53 arrive as
 * bigint and bytes as Buffers, which JSON.stringify cannot or should not write as they are.
 */
import { rowValues } from '../../../src/sinks/postgres/sql.js';
import { hashFields } from '../../../src/sinks/redis/fields.js';
import { payloadJson } from '../../../src/sinks/shared.js';

const payload = { id: 2n ** 60n, raw: Buffer.from([1, 2, 255]), nested: { big: 2n ** 61n, bytes: Buffer.from('hi') }, n: 3 };

test('payloadJson writes bigints as exact digits and Buffers as base64', () => {
  expect(JSON.parse(payloadJson(payload))).toEqual({ id: '1152921504606846976', raw: 'AQL/', nested: { big: '2305843009213693952', bytes: 'aGk=' }, n: 3 });
});

test('redis hash fields of an Avro record', () => {
  expect(hashFields(payload)).toEqual(['id', '1152921504606846976', 'raw', 'AQL/', 'nested', '{"big":"2305843009213693952","bytes":"aGk="}', 'n', '3']);
});

test('postgres parameters of an Avro record: bigint exact, bytes as bytes, records as JSON', () => {
  const record = { eventId: 'e-1', key: 'k', value: Buffer.alloc(0), headers: {}, payload };
  const values = rowValues(record, [{ path: ['id'] }, { path: ['raw'] }, { path: ['nested'] }]);
  expect(values).toEqual(['1152921504606846976', Buffer.from([1, 2, 255]), '{"big":"2305843009213693952","bytes":"aGk="}']);
});
