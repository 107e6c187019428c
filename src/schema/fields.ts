/**
 * Reads a key or event id from a decoded payload by field path (`customer.id`). Strings and
 * finite numbers qualify; anything else (missing, null, object, boolean) is a bad event.
 */
export type FieldResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly reason: string };

export function readField(payload: unknown, path: readonly string[]): FieldResult {
  let current: unknown = payload;
  for (const [index, segment] of path.entries()) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) {
      return { ok: false, reason: `field ${path.slice(0, index + 1).join('.')} is missing (${path.slice(0, index).join('.') || 'the payload'} is not an object)` };
    }
    current = (current as Record<string, unknown>)[segment];
  }
  const name = path.join('.');
  if (typeof current === 'string' && current.length > 0) return { ok: true, value: current };
  if (typeof current === 'number' && Number.isFinite(current)) return { ok: true, value: String(current) };
  if (current === undefined) return { ok: false, reason: `field ${name} is missing` };
  return { ok: false, reason: `field ${name} must be a non-empty string or a number, got ${current === null ? 'null' : typeof current === 'string' ? 'an empty string' : typeof current}` };
}
