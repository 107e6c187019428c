import type { EventDecoder } from './decoder.js';

/** JSON events: the value is one UTF-8 JSON object. */
export function createJsonDecoder(): EventDecoder {
  return {
    async decode(value) {
      if (value === null || value.length === 0) return { ok: false, reason: 'empty value (tombstone or null): expected a JSON object' };
      let payload: unknown;
      try {
        payload = JSON.parse(value.toString('utf8'));
      } catch (error) {
        return { ok: false, reason: `not JSON: ${withoutInput((error as Error).message)}` };
      }
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        return { ok: false, reason: `expected a JSON object, got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}` };
      }
      return { ok: true, payload };
    },
    async close() {},
  };
}

/**
 * V8 quotes the offending token and the start of the input ("Unexpected token 's', "secret..." is
 * not valid JSON"); the reason is logged, and payload bytes never are. Positions stay.
 */
function withoutInput(message: string): string {
  return message.replace(/^Unexpected token [^]*? is not valid JSON$/, 'Unexpected token: not valid JSON').replace(/^Unexpected token \S+ in JSON/, 'Unexpected token in JSON');
}
