/**
 * The router's header helpers: a batch's new traces come from one random draw yet are each a
 * valid, distinct W3C traceparent; encoded headers carry the same bytes as the strings.
 */
import { encodedHeaders, fromHeaders, newTraceparent, newTraceparents, toHeaders, validTraceparent } from '../../../src/runtime/headers.js';

test('newTraceparents(n): n valid, distinct traceparents; none for n <= 0', () => {
  const traces = newTraceparents(500);
  expect(traces).toHaveLength(500);
  for (const trace of traces) expect(validTraceparent(trace)).toBe(trace);
  expect(new Set(traces).size).toBe(500);
  expect(new Set(traces.map((t) => t.split('-')[1])).size).toBe(500);
  expect(newTraceparents(0)).toEqual([]);
  expect(validTraceparent(newTraceparent())).toBeDefined();
});

test('encoded headers hold the UTF-8 bytes of each value and read back as the event', () => {
  const event = { plan: 'shop@abc', eventId: 'é-1', key: 'k', seq: 3, ingestedAt: 1_700_000_000_000, traceparent: newTraceparent() };
  const strings = toHeaders(event);
  const encoded = encodedHeaders(strings);
  expect(Object.keys(encoded)).toEqual(Object.keys(strings));
  for (const [name, value] of Object.entries(strings)) expect(encoded[name]).toEqual(Buffer.from(value, 'utf8'));
  const decoded = Object.fromEntries(Object.entries(encoded).map(([name, value]) => [name, value.toString('utf8')]));
  expect(fromHeaders(decoded)).toEqual({ ok: true, event });
});
