/**
 * The Avro decoder against the real schema registry (infra/registry.sh): Confluent wire
 * format, writer schemas by id, schema evolution into the topology's reader schema, and the
 * exact reason for each kind of bad input. Each test file registers under subjects of its
 * own topic, so runs never collide.
 */
import type { Schema } from 'avsc';
import { InvalidInputError } from '../../../src/errors.js';
import { avroType } from '../../../src/schema/avro-types.js';
import { encodeConfluent } from '../../../src/schema/avro.js';
import { createDecoder, DecoderUnavailableError, type EventDecoder } from '../../../src/schema/decoder.js';
import { readField } from '../../../src/schema/fields.js';
import { RegistryClient } from '../../../src/schema/registry.js';
import { uniqueName } from '../../helpers/servers.js';
import { FIXTURES_DIR, SCHEMAS_DIR, avroSource, orderEvent, registryUrl, schemaJson, schemaText } from './helpers.js';

const registry = new RegistryClient(registryUrl());
const topic = uniqueName('avro-orders');
const v1 = avroType(schemaJson('v1'));
const v2 = avroType(schemaJson('v2'));
let idV1: number;
let idV2: number;
let readerV1: EventDecoder;
let readerV2: EventDecoder;

beforeAll(async () => {
  idV1 = await registry.register(`${topic}-value`, schemaText('v1'));
  // v2 adds a field with a default: the registry's BACKWARD rule accepts it
  idV2 = await registry.register(`${topic}-value`, schemaText('v2'));
  readerV1 = await createDecoder(avroSource(topic), { schemaRegistryUrl: registryUrl(), schemasDir: SCHEMAS_DIR });
  readerV2 = await createDecoder(avroSource(topic, 'order-event-v2'), { schemaRegistryUrl: registryUrl(), schemasDir: FIXTURES_DIR });
});

afterAll(async () => {
  await readerV1?.close();
  await readerV2?.close();
});

describe('schema evolution through the registry', () => {
  test('v1 and v2 get different ids', () => {
    expect(idV2).not.toBe(idV1);
  });

  test('a v1 event decodes into the v1 reader schema as written', async () => {
    const event = orderEvent(1);
    expect(await readerV1.decode(encodeConfluent(idV1, v1.toBuffer(event)))).toEqual({ ok: true, payload: event });
  });

  test('a v2 event decodes into the v1 reader schema without the field v1 does not know', async () => {
    const event = orderEvent(2);
    expect(await readerV1.decode(encodeConfluent(idV2, v2.toBuffer({ ...event, channel: 'app' })))).toEqual({ ok: true, payload: event });
  });

  test('a v1 event decodes into the v2 reader schema with the added field at its default', async () => {
    const event = orderEvent(3);
    expect(await readerV2.decode(encodeConfluent(idV1, v1.toBuffer(event)))).toEqual({ ok: true, payload: { ...event, channel: 'web' } });
  });

  test('a v2 event decodes into the v2 reader schema as written', async () => {
    const event = { ...orderEvent(4), channel: 'app' };
    expect(await readerV2.decode(encodeConfluent(idV2, v2.toBuffer(event)))).toEqual({ ok: true, payload: event });
  });

  test('key and id read from the decoded record, nested and top level', async () => {
    const decoded = await readerV1.decode(encodeConfluent(idV2, v2.toBuffer({ ...orderEvent(5), channel: 'app' })));
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(readField(decoded.payload, ['customer', 'id'])).toEqual({ ok: true, value: 'c-2' });
    expect(readField(decoded.payload, ['eventId'])).toEqual({ ok: true, value: 'e-5' });
  });

  test('promotion: a writer with an int amount is read as the reader long', async () => {
    const intAmount = JSON.parse(schemaText('v1').replace('"name": "amountCents", "type": "long"', '"name": "amountCents", "type": "int"')) as Schema;
    expect(JSON.stringify(intAmount)).toContain('"name":"amountCents","type":"int"');
    const id = await registry.register(`${topic}-int-amount`, JSON.stringify(intAmount));
    const event = orderEvent(6);
    expect(await readerV1.decode(encodeConfluent(id, avroType(intAmount).toBuffer(event)))).toEqual({ ok: true, payload: event });
  });
});

describe('a writer union with a branch the reader cannot read', () => {
  // The writer lets customer.email also be an int; the reader only knows null and string.
  const wide = JSON.parse(schemaText('v1').replace('"type": ["null", "string"]', '"type": ["null", "string", "int"]')) as Schema;
  let id: number;
  beforeAll(async () => {
    expect(JSON.stringify(wide)).toContain('["null","string","int"]');
    id = await registry.register(`${topic}-wide-email`, JSON.stringify(wide));
  });

  test('an event that uses a branch the reader knows decodes (Avro resolves unions per event)', async () => {
    const event = orderEvent(7);
    expect(await readerV1.decode(encodeConfluent(id, avroType(wide).toBuffer(event)))).toEqual({ ok: true, payload: event });
  });

  test('an event that uses the unknown branch is invalid, naming the branch', async () => {
    const value = encodeConfluent(id, avroType(wide, 'wrapped').toBuffer({ ...orderEvent(8), customer: { id: 'c-2', email: { int: 42 } } }));
    expect(await readerV1.decode(value)).toEqual({
      ok: false,
      reason: `writer schema id ${id}, with the union branches this event uses, cannot be resolved into reader schema order-event: cannot read "int" as ["null","string"]`,
    });
  });
});

describe('bad input: each gives { ok: false } with its exact reason', () => {
  const body = (): Buffer => v1.toBuffer(orderEvent(9));

  test('empty value', async () => {
    expect(await readerV1.decode(null)).toEqual({ ok: false, reason: 'empty value (tombstone or null): expected a Confluent wire-format Avro record' });
  });

  test('wrong magic byte', async () => {
    expect(await readerV1.decode(Buffer.from('{"eventId":"e-1"}'))).toEqual({
      ok: false,
      reason: 'wrong magic byte 0x7b: the Confluent wire format starts with 0x00, then a 4-byte schema id',
    });
  });

  test('truncated header', async () => {
    expect(await readerV1.decode(Buffer.from([0, 0, 1]))).toEqual({
      ok: false,
      reason: 'truncated header: 3 byte(s), the Confluent wire format needs 5 (magic byte and 4-byte schema id) before the body',
    });
  });

  test('unknown schema id: the registry answers 404', async () => {
    const unknown = 2_000_000_000;
    const result = await readerV1.decode(encodeConfluent(unknown, body()));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^unknown schema id 2000000000: the schema registry has no schema with this id \(404: .*2000000000.*\)$/);
  });

  test('a registry URL with the wrong path answers 404 too, but that is no reason to dead-letter: unavailable', async () => {
    const misaddressed = registryUrl().replace(/\/apis\/ccompat\/v7$/, '') + '/not-the-api';
    const decoder = await createDecoder(avroSource(topic), { schemaRegistryUrl: misaddressed, schemasDir: SCHEMAS_DIR });
    const result = decoder.decode(encodeConfluent(idV1, body()));
    await expect(result).rejects.toBeInstanceOf(DecoderUnavailableError);
    await expect(result).rejects.toThrow(/is SCHEMA_REGISTRY_URL the registry base URL\?/);
    await decoder.close();
  });

  test('truncated body', async () => {
    const cut = body().subarray(0, 10);
    expect(await readerV1.decode(encodeConfluent(idV1, cut))).toEqual({
      ok: false,
      reason: `truncated body: its 10 byte(s) end before a complete record of writer schema id ${idV1}`,
    });
  });

  test('trailing bytes', async () => {
    const full = body();
    expect(await readerV1.decode(encodeConfluent(idV1, Buffer.concat([full, Buffer.from([0xff])])))).toEqual({
      ok: false,
      reason: `trailing bytes: a record of writer schema id ${idV1} ends after ${full.length} of the body's ${full.length + 1} bytes`,
    });
  });

  test('a body that does not match the writer schema: enum index out of range', async () => {
    const bad = Buffer.from(body());
    // eventId "e-9" (4 bytes), customer.id "c-0" (4), email union index + "c9@example.test" (1 + 16), orderId "o-9" (4): byte 29 is `type`
    expect(bad[29]).toBe(0); // CREATED
    bad[29] = 0x08; // index 4 of 4 symbols
    expect(await readerV1.decode(encodeConfluent(idV1, bad))).toEqual({
      ok: false,
      reason: `body does not match writer schema id ${idV1}: invalid dev.flowyard.orders.OrderEventType enum index: 4`,
    });
  });

  test('a body that does not match the writer schema: union index out of range', async () => {
    const bad = Buffer.from(body());
    // eventId "e-9" (4 bytes), customer.id "c-0" (4 bytes): byte 8 is the index of the email union (1 = string)
    expect(bad[8]).toBe(2);
    bad[8] = 0x0e; // index 7
    expect(await readerV1.decode(encodeConfluent(idV1, bad))).toEqual({ ok: false, reason: `body does not match writer schema id ${idV1}: invalid union index: 7` });
  });

  test('a writer schema that cannot be resolved at all: every event of it is invalid, with the reason', async () => {
    const unrelated = { type: 'record', name: 'OrderEvent', namespace: 'dev.flowyard.orders', fields: [{ name: 'total', type: 'double' }] };
    const id = await registry.register(`${topic}-unrelated`, JSON.stringify(unrelated));
    expect(await readerV1.decode(encodeConfluent(id, avroType(unrelated as Schema).toBuffer({ total: 1.5 })))).toEqual({
      ok: false,
      reason: `writer schema id ${id} cannot be resolved into reader schema order-event (${SCHEMAS_DIR}/order-event.avsc): no matching field for default-less dev.flowyard.orders.OrderEvent.eventId`,
    });
  });

  test('a source schema that is neither a file in schemas/ nor a registry subject: the decoder is not created', async () => {
    const created = createDecoder(avroSource(topic, 'no-such-schema'), { schemaRegistryUrl: registryUrl(), schemasDir: SCHEMAS_DIR });
    await expect(created).rejects.toBeInstanceOf(InvalidInputError);
    await expect(created).rejects.toThrow(/^source schema no-such-schema: there is no .*\/no-such-schema\.avsc and the registry has no subject no-such-schema/);
  });

  test('a key path the reader schema does not have: the decoder is not created', async () => {
    const source = { ...avroSource(topic), keyPath: ['customer', 'idd'] };
    await expect(createDecoder(source, { schemaRegistryUrl: registryUrl(), schemasDir: SCHEMAS_DIR })).rejects.toThrow(
      `source key customer.idd: field customer.idd does not exist in customer of reader schema order-event (${SCHEMAS_DIR}/order-event.avsc)`,
    );
  });

  test('a source schema taken from a registry subject when there is no file', async () => {
    const decoder = await createDecoder(avroSource(topic, `${topic}-value`), { schemaRegistryUrl: registryUrl(), schemasDir: SCHEMAS_DIR });
    // the subject's latest version is v2: a v1 event gets the default of the added field
    expect(await decoder.decode(encodeConfluent(idV1, v1.toBuffer(orderEvent(10))))).toEqual({ ok: true, payload: { ...orderEvent(10), channel: 'web' } });
    await decoder.close();
  });

  test('a schema id that is not an Avro schema', async () => {
    const response = await fetch(`${registryUrl()}/subjects/${topic}-json/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify({ type: 'object', properties: { eventId: { type: 'string' } } }) }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: number };
    expect(await readerV1.decode(encodeConfluent(id, body()))).toEqual({ ok: false, reason: `schema id ${id} is a JSON schema, not Avro` });
  });
});
