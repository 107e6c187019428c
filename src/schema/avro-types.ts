/**
 * How flowyard builds avsc types, in one place so the reader schema, the writer schemas
 * from the registry and the test encoders agree.
 *
 * - Unions are never wrapped (`wrapUnions: 'never'`) in what the decoder hands on: a
 *   `["null", "string"]` field decodes to `null` or the string, so payloads read like JSON
 *   and `readField` and structured sinks need no Avro knowledge. Writer types used only to
 *   look at which union branch an event chose are built wrapped (see narrow.ts).
 * - `long` decodes to a JS number while it is a safe integer and to a `bigint` beyond
 *   2^53: avsc's default would refuse such values ("potential precision loss"), and
 *   rounding an event id would merge two events into one idempotency key.
 * - Logical types are not applied: a `timestamp-millis` long stays a number of ms, a
 *   `decimal` stays bytes, so what sinks get is exactly what was written.
 */
import avsc from 'avsc';
import type { Schema, Type } from 'avsc';

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** An Avro long as flowyard hands it on: a number when safe, else a bigint. */
export type AvroLong = number | bigint;

/** avsc's `__with` contract: long values to and from their 8-byte little-endian form. */
const safeLong = avsc.types.LongType.__with({
  fromBuffer: (buf: Buffer): AvroLong => {
    const value = buf.readBigInt64LE();
    return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  },
  toBuffer: (value: AvroLong): Buffer => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(value));
    return buf;
  },
  fromJSON: (value: unknown): AvroLong => (typeof value === 'bigint' ? value : Number(value)),
  // JSON has no bigint; an exact decimal string beats a rounded number.
  toJSON: (value: AvroLong): number | string => (typeof value === 'bigint' ? value.toString() : value),
  isValid: (value: unknown): boolean => typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value)),
  compare: (a: AvroLong, b: AvroLong): number => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  },
});

/**
 * An avsc type for `schema`. Each call gets fresh options: avsc records named types in the
 * options' registry, and a shared one would reject the second parse of a schema with
 * "duplicate type name".
 */
export function avroType(schema: Schema, unions: 'unwrapped' | 'wrapped' = 'unwrapped'): Type {
  return avsc.Type.forSchema(schema, {
    wrapUnions: unions === 'wrapped' ? 'always' : 'never',
    registry: { long: safeLong },
    // decoded records are handed to sinks as data; avsc's per-record methods would only be noise there
    omitRecordMethods: true,
  });
}

/** Parses an Avro schema text (JSON). @throws Error with avsc's or JSON's message. */
export function parseSchemaText(text: string, unions: 'unwrapped' | 'wrapped' = 'unwrapped'): Type {
  return avroType(JSON.parse(text) as Schema, unions);
}
