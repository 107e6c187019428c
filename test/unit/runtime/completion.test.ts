/**
 * Completions records: the value is the event's own bytes (no base64 copy), what a record
 * reports travels in headers and reads back unchanged; `fy-kind` alone says whose a record
 * is, and a kind flowyard does not know is skipped without reading the value; records of the
 * previous JSON format still read.
 */
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { completionKindOf, completionsRecord, parseCompletion, parseCompletionsRecord, type Completion, type EventOutcome } from '../../../src/runtime/completion.js';
import { HEADER } from '../../../src/runtime/headers.js';

const value = Buffer.from([0x7b, 0x00, 0xff, 0x22]); // not UTF-8: the bytes must survive as they are
const base = {
  eventId: 'e-1',
  key: 'customer-1',
  seq: 4,
  plan: 'shop@abc123',
  ingestedAt: 1_700_000_000_000,
  at: 1_700_000_000_250,
  value,
  origin: { topic: 'shop.fanout.ledger', partition: 2, offset: '41' },
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
};

/** The outgoing record as a consumer reads it back (string headers, Buffer value). */
function consumed(outgoing: ReturnType<typeof completionsRecord>): ConsumedRecord {
  const headers = Object.fromEntries(Object.entries(outgoing.headers ?? {}).map(([name, v]) => [name, Buffer.isBuffer(v) ? v.toString('utf8') : v]));
  const v = outgoing.value === null ? null : Buffer.isBuffer(outgoing.value) ? outgoing.value : Buffer.from(outgoing.value);
  return { topic: 'shop.completions', partition: 0, offset: '0', key: Buffer.from(String(outgoing.key)), value: v, headers, timestamp: 0 };
}

test('a destination completion carries the event value itself and reads back field for field', () => {
  const completion: Completion = { ...base, kind: 'destination', destination: 'ledger', status: 'failed', attempts: 3, error: 'HTTP 503' };
  const outgoing = completionsRecord(completion);
  expect(outgoing.value).toBe(value); // the consumed Buffer itself, not a copy in another encoding
  expect(outgoing.key).toBe('customer-1');
  expect(outgoing.headers).toMatchObject({ [HEADER.kind]: 'destination', [HEADER.status]: 'failed', [HEADER.destination]: 'ledger', [HEADER.attempts]: '3', [HEADER.attempt]: '3', [HEADER.error]: 'HTTP 503', [HEADER.origin]: 'shop.fanout.ledger/2/41' });
  expect(parseCompletionsRecord(consumed(outgoing))).toEqual(completion);
  expect(parseCompletion(consumed(outgoing))).toEqual(completion);
});

test('a verdict and a compensation read back; a verdict is no destination completion', () => {
  const verdict: EventOutcome = { ...base, kind: 'event', status: 'failed', failed: ['ledger', 'notify'] };
  expect(parseCompletionsRecord(consumed(completionsRecord(verdict)))).toEqual(verdict);
  expect(parseCompletion(consumed(completionsRecord(verdict)))).toBeUndefined();
  const completed: EventOutcome = { ...base, kind: 'event', status: 'completed', failed: [], value: null };
  expect(parseCompletionsRecord(consumed(completionsRecord(completed)))).toEqual(completed);
  const undo: Completion = { ...base, kind: 'compensation', destination: 'ledger', status: 'ok', attempts: 1 };
  expect(parseCompletionsRecord(consumed(completionsRecord(undo)))).toEqual(undo);
});

test('a long error is bounded in fy-error', () => {
  const outgoing = completionsRecord({ ...base, kind: 'destination', destination: 'ledger', status: 'failed', attempts: 1, error: 'x'.repeat(5_000) });
  expect(String(outgoing.headers![HEADER.error]).length).toBe(1_001);
});

test('a record of a kind flowyard does not know is told by its header alone and not parsed', () => {
  const foreign: ConsumedRecord = { topic: 'shop.completions', partition: 0, offset: '7', key: null, value: Buffer.from('not json {'), headers: { [HEADER.kind]: 'audit' }, timestamp: 0 };
  expect(completionKindOf(foreign)).toBe('unknown');
  expect(parseCompletionsRecord(foreign)).toBeUndefined();
  expect(parseCompletion(foreign)).toBeUndefined();
  // A known kind with headers that do not make a record is not one either.
  expect(parseCompletionsRecord({ value: null, headers: { [HEADER.kind]: 'event', [HEADER.status]: 'completed' } })).toBeUndefined();
});

test('a record of the previous format (JSON, value in base64, no fy-kind) still reads, with the value decoded', () => {
  const legacy = { kind: 'destination', eventId: 'e-1', key: 'customer-1', seq: 4, plan: 'shop@abc123', destination: 'ledger', status: 'ok', attempts: 1, ingestedAt: 1, at: 2, value: value.toString('base64'), origin: base.origin };
  const record = { value: Buffer.from(JSON.stringify(legacy)), headers: {} };
  expect(completionKindOf(record)).toBe('legacy');
  expect(parseCompletionsRecord(record)).toEqual({ ...legacy, value });
  expect(parseCompletionsRecord({ value: Buffer.from('not json'), headers: {} })).toBeUndefined();
});
