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
        return { ok: false, reason: `not JSON: ${(error as Error).message}` };
      }
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        return { ok: false, reason: `expected a JSON object, got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}` };
      }
      return { ok: true, payload };
    },
    async close() {},
  };
}
