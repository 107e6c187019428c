/**
 * The Avro pieces that need no registry: plain Avro bodies (no SCHEMA_REGISTRY_URL) decoded
 * in the reader schema with the exact reason for each kind of bad body, longs beyond 2^53,
 * the Confluent framing, and per-event union narrowing. The wire format with a real registry
 * is tested in test/integration/schema/.
 */
import type { Schema } from 'avsc';
import { avroType } from '../../../src/schema/avro-types.js';
import { createAvroDecoder, encodeConfluent, type ReaderSchema } from '../../../src/schema/avro.js';
import { narrowToValue } from '../../../src/schema/narrow.js';
import { readField } from '../../../src/schema/fields.js';
import { fieldPathProblem } from '../../../src/schema/reader-schema.js';

const orderSchema = {
  type: 'record',
  name: 'OrderEvent',
  namespace: 'test',
  fields: [
    { name: 'eventId', type: 'string' },
    {
      name: 'customer',
      type: { type: 'record', name: 'Customer', fields: [{ name: 'id', type: 'string' }, { name: 'email', type: ['null', 'string'], default: null }] },
    },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['CREATED', 'PAID'] } },
    { name: 'amountCents', type: 'long' },
  ],
} as Schema;

function reader(schema: Schema = orderSchema): ReaderSchema {
  return { name: 'order-event', origin: 'inline', type: avroType(schema) };
}

const event = { eventId: 'e-1', customer: { id: 'c-7', email: null }, kind: 'PAID', amountCents: 1250 };

describe('plain Avro bodies (no registry)', () => {
  const decoder = createAvroDecoder(reader());
  const body = avroType(orderSchema).toBuffer(event);

  test('a body written with the reader schema decodes to a plain record', async () => {
    const result = await decoder.decode(body);
    expect(result).toEqual({ ok: true, payload: expect.objectContaining(event) });
  });

  test('key and id paths read nested records, enums and longs', async () => {
    const result = await decoder.decode(body);
    if (!result.ok) throw new Error(result.reason);
    expect(readField(result.payload, ['customer', 'id'])).toEqual({ ok: true, value: 'c-7' });
    expect(readField(result.payload, ['eventId'])).toEqual({ ok: true, value: 'e-1' });
    expect(readField(result.payload, ['kind'])).toEqual({ ok: true, value: 'PAID' });
    expect(readField(result.payload, ['amountCents'])).toEqual({ ok: true, value: '1250' });
    // a union with null decoded to null is a missing key, with the reason
    expect(readField(result.payload, ['customer', 'email'])).toEqual({ ok: false, reason: 'field customer.email must be a non-empty string or a number, got null' });
    expect(readField(result.payload, ['customer', 'email', 'domain'])).toEqual({ ok: false, reason: 'field customer.email.domain is missing (customer.email is null)' });
  });

  test('a union with null holding a value decodes to the bare value (unions are not wrapped)', async () => {
    const result = await decoder.decode(avroType(orderSchema).toBuffer({ ...event, customer: { id: 'c-7', email: 'a@b.c' } }));
    if (!result.ok) throw new Error(result.reason);
    expect(readField(result.payload, ['customer', 'email'])).toEqual({ ok: true, value: 'a@b.c' });
  });

  test('empty value', async () => {
    expect(await decoder.decode(null)).toEqual({ ok: false, reason: 'empty value (tombstone or null): expected an Avro record' });
    expect(await decoder.decode(Buffer.alloc(0))).toEqual({ ok: false, reason: 'empty value (tombstone or null): expected an Avro record' });
  });

  test('truncated body', async () => {
    expect(await decoder.decode(body.subarray(0, body.length - 1))).toEqual({
      ok: false,
      reason: `truncated body: its ${body.length - 1} byte(s) end before a complete record of reader schema order-event`,
    });
  });

  test('trailing bytes', async () => {
    expect(await decoder.decode(Buffer.concat([body, Buffer.from([1, 2, 3])]))).toEqual({
      ok: false,
      reason: `trailing bytes: a record of reader schema order-event ends after ${body.length} of the body's ${body.length + 3} bytes`,
    });
  });

  test('a body that does not match the schema: union index out of range', async () => {
    // eventId "e-1" is 4 bytes, customer.id "c-7" 4 more; byte 8 is the union index of email (0 = null).
    const bad = Buffer.from(body);
    expect(bad[8]).toBe(0);
    bad[8] = 0x0a; // zig-zag 5
    expect(await decoder.decode(bad)).toEqual({ ok: false, reason: 'body does not match reader schema order-event: invalid union index: 5' });
  });

  test('a body that does not match the schema: enum index out of range', async () => {
    const bad = Buffer.from(body);
    expect(bad[9]).toBe(2); // kind PAID = index 1, zig-zag 2
    bad[9] = 0x08;
    expect(await decoder.decode(bad)).toEqual({ ok: false, reason: 'body does not match reader schema order-event: invalid test.Kind enum index: 4' });
  });

  test('a Confluent wire-format value without a registry says what it most likely is', async () => {
    const result = await decoder.decode(encodeConfluent(1, body));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/starts with byte 0x00 like the Confluent wire format; is SCHEMA_REGISTRY_URL missing\?\)$/);
  });
});

describe('longs', () => {
  const schema = { type: 'record', name: 'L', fields: [{ name: 'id', type: 'long' }, { name: 'maybe', type: ['null', 'long'] }] } as Schema;
  const type = avroType(schema);

  test('beyond 2^53 a long decodes to an exact bigint, and readField prints it exactly', async () => {
    const id = 2n ** 60n + 1n;
    const result = await createAvroDecoder(reader(schema)).decode(type.toBuffer({ id, maybe: -(2n ** 62n) }));
    if (!result.ok) throw new Error(result.reason);
    expect(readField(result.payload, ['id'])).toEqual({ ok: true, value: '1152921504606846977' });
    expect(readField(result.payload, ['maybe'])).toEqual({ ok: true, value: '-4611686018427387904' });
  });

  test('safe longs stay numbers, so payloads stay JSON-serialisable', async () => {
    const result = await createAvroDecoder(reader(schema)).decode(type.toBuffer({ id: 42, maybe: null }));
    expect(result).toEqual({ ok: true, payload: expect.objectContaining({ id: 42, maybe: null }) });
  });
});

describe('Confluent framing', () => {
  test('magic byte 0, big-endian id, then the body', () => {
    expect([...encodeConfluent(0x01020304, Buffer.from([9, 8]))]).toEqual([0, 1, 2, 3, 4, 9, 8]);
  });
});

describe('union narrowing', () => {
  const writer = avroType(
    {
      type: 'record',
      name: 'W',
      fields: [
        { name: 'a', type: ['null', 'string', 'int'] },
        { name: 'list', type: { type: 'array', items: ['string', 'long'] } },
        { name: 'same', type: { type: 'record', name: 'R', fields: [{ name: 'x', type: ['null', 'string'] }] } },
        { name: 'again', type: 'R' },
      ],
    } as Schema,
    'wrapped',
  );

  test('keeps only the branches the value uses, across every occurrence of a named type', () => {
    const value = writer.decode(
      writer.toBuffer({ a: { string: 'x' }, list: [{ long: 1 }, { long: 2 }], same: { x: null }, again: { x: { string: 'y' } } }),
      0,
    ).value as unknown;
    expect(narrowToValue(writer, value)).toEqual({
      type: 'record',
      name: 'W',
      fields: [
        { name: 'a', type: ['string'] },
        { name: 'list', type: { type: 'array', items: ['long'] } },
        // R is one type: its union keeps what either occurrence used, and is defined once
        { name: 'same', type: { type: 'record', name: 'R', fields: [{ name: 'x', type: ['null', 'string'] }] } },
        { name: 'again', type: 'R' },
      ],
    });
  });

  test('a union the value never reaches keeps all its branches', () => {
    const value = writer.decode(writer.toBuffer({ a: null, list: [], same: { x: null }, again: { x: null } }), 0).value as unknown;
    const narrowed = narrowToValue(writer, value) as { fields: { type: unknown }[] };
    expect(narrowed.fields[0]!.type).toEqual(['null']);
    expect(narrowed.fields[1]!.type).toEqual({ type: 'array', items: ['string', 'long'] });
  });
});

describe('key and id paths checked against the reader schema', () => {
  const type = avroType({
    type: 'record',
    name: 'P',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'kind', type: { type: 'enum', name: 'K', symbols: ['A'] } },
      { name: 'customer', type: ['null', { type: 'record', name: 'C', fields: [{ name: 'ref', type: ['null', 'string'] }] }] },
      { name: 'blob', type: 'bytes' },
    ],
  } as Schema);

  test.each([['id'], ['kind'], ['customer.ref']])('%s can hold a key', (path) => {
    expect(fieldPathProblem(type, path.split('.'))).toBeUndefined();
  });

  test('a field that does not exist, at the level where it is missing', () => {
    expect(fieldPathProblem(type, ['customer', 'email'])).toBe('field customer.email does not exist in customer');
    expect(fieldPathProblem(type, ['eventId'])).toBe('field eventId does not exist in the record');
    expect(fieldPathProblem(type, ['id', 'x'])).toBe('field id.x does not exist in id');
  });

  test('a field whose type cannot be a key', () => {
    expect(fieldPathProblem(type, ['customer'])).toBe('field customer is null | record; a key or id must be a string, number or enum');
    expect(fieldPathProblem(type, ['blob'])).toBe('field blob is bytes; a key or id must be a string, number or enum');
  });
});
