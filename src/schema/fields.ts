/**
 * Reads a key or event id from a decoded payload by field path (`customer.id`). Strings and
 * finite numbers qualify, and bigints (Avro longs beyond 2^53, see schema/avro-types.ts);
 * anything else (missing, null, object, boolean, bytes) is a bad event.
 *
 * Avro payloads need nothing more: records decode to objects, unions are unwrapped (a
 * `["null", "string"]` field is null or the string), enums decode to their symbol.
 */
export type FieldResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly reason: string };

export function readField(payload: unknown, path: readonly string[]): FieldResult {
  let current: unknown = payload;
  for (const [index, segment] of path.entries()) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) {
      // An Avro union with null decodes to null: say so rather than "not an object".
      const parent = path.slice(0, index).join('.') || 'the payload';
      return { ok: false, reason: `field ${path.slice(0, index + 1).join('.')} is missing (${parent} is ${current === null ? 'null' : 'not an object'})` };
    }
    current = (current as Record<string, unknown>)[segment];
  }
  const name = path.join('.');
  if (typeof current === 'string' && current.length > 0) return { ok: true, value: current };
  if (typeof current === 'number' && Number.isFinite(current)) return { ok: true, value: String(current) };
  if (typeof current === 'bigint') return { ok: true, value: current.toString() };
  if (current === undefined) return { ok: false, reason: `field ${name} is missing` };
  return { ok: false, reason: `field ${name} must be a non-empty string or a number, got ${describe(current)}` };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return 'an empty string';
  if (Buffer.isBuffer(value)) return 'bytes';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
