/**
 * What a worker emits for a decided event once the topics' limits are known: every record
 * fits its topic, and an event that cannot reach a next step is dead-lettered for that step
 * with a failed report in its name, so the tracker decides it.
 */
import type { ConsumedRecord, OutgoingRecord } from '../../../src/kafka/records.js';
import { estimateRecordBytes } from '../../../src/kafka/message-size.js';
import { parseCompletionsRecord } from '../../../src/runtime/completion.js';
import { HEADER, toHeaders, type EventHeaders } from '../../../src/runtime/headers.js';
import { TopicLimits } from '../../../src/runtime/record-size.js';
import { StepEmitter } from '../../../src/runtime/worker/emitter.js';
import { parseTopology } from '../../../src/topology/load.js';

const plan = parseTopology(
  ['name: t', 'source: { topic: t.events, key: k, id: id }', 'mode: cascade', 'destinations:', '  - { name: a, sink: { type: http, url: "http://h/a" } }', '  - { name: b, sink: { type: http, url: "http://h/b" } }'].join('\n'),
  't.yaml',
  {},
).plan;
const emitter = new StepEmitter({ plan, worker: plan.slices.workers.find((w) => w.destination === 'a' && w.kind === 'write')! });
const event: EventHeaders = { plan: plan.id, eventId: 'e1', key: 'k1', seq: 7, ingestedAt: 1, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
const bInput = plan.destinations.find((d) => d.name === 'b')!.inputTopic;

function consumed(valueBytes: number): ConsumedRecord {
  return { topic: plan.destinations[0]!.inputTopic, partition: 1, offset: '42', key: Buffer.from('k1'), value: Buffer.alloc(valueBytes, 120), headers: toHeaders(event, 1), timestamp: 0 };
}

function completionsOf(records: ReadonlyMap<string, readonly OutgoingRecord[]>) {
  return (records.get(plan.completionsTopic) ?? []).map((r) => parseCompletionsRecord({ value: r.value === null ? null : Buffer.from(r.value), headers: { ...r.headers } as Record<string, string> })!);
}

test('without limits nothing is measured: a hand-on and an ok completion, as before', () => {
  const { records, oversized } = emitter.succeededWithin(undefined, consumed(300_000), event, 1, undefined);
  expect([...records.keys()]).toEqual([bInput, plan.completionsTopic]);
  expect(oversized).toEqual([]);
});

test('a hand-on too large for the next input becomes its oversized dead letter, cut to fit the DLQ, plus a failed report for it', () => {
  const limits = new TopicLimits(new Map([[bInput, 100_000], [plan.dlqTopic, 50_000]]));
  const { records, oversized, deadLetters } = emitter.succeededWithin(limits, consumed(300_000), event, 2, undefined);
  expect(records.has(bInput)).toBe(false);
  expect(oversized).toEqual([{ topic: bInput, bytes: expect.any(Number), limit: 100_000, destination: 'b', outcome: 'dead_letter' }]);
  expect(deadLetters.size).toBe(0); // the letter is b's, counted by `oversized`
  const [letter] = records.get(plan.dlqTopic)!;
  expect(estimateRecordBytes(letter!)).toBeLessThanOrEqual(50_000);
  expect(letter!.headers).toMatchObject({ [HEADER.errorClass]: 'oversized', [HEADER.destination]: 'b', [HEADER.truncated]: '300000', [HEADER.origin]: `${plan.destinations[0]!.inputTopic}/1/42` });
  expect(letter!.headers![HEADER.error]).toContain(`more than topic ${bInput} allows (max.message.bytes 100000)`);
  expect(completionsOf(records).map((c) => [c.kind === 'event' ? 'event' : c.destination, c.status])).toEqual([['b', 'failed'], ['a', 'ok']]);
});

test('a completion too large for the completions topic goes without the value and says how large it was', () => {
  const limits = new TopicLimits(new Map([[plan.completionsTopic, 200_000]]));
  const { records, oversized } = emitter.succeededWithin(limits, consumed(300_000), event, 1, undefined);
  expect(records.get(bInput)).toHaveLength(1);
  expect(oversized).toEqual([{ topic: plan.completionsTopic, bytes: expect.any(Number), limit: 200_000, destination: 'a', outcome: 'value_omitted' }]);
  expect(completionsOf(records)).toEqual([expect.objectContaining({ destination: 'a', status: 'ok', value: null, valueOmittedBytes: 300_000 })]);
});

test('a failed event\'s dead letter is cut to fit the DLQ and its failed completion to fit the completions topic', () => {
  const limits = new TopicLimits(new Map([[plan.dlqTopic, 50_000], [plan.completionsTopic, 50_000]]));
  const { records, oversized, deadLetters } = emitter.deadLetteredWithin(limits, consumed(300_000), event, 'destination', '503', 5);
  expect(deadLetters).toEqual(new Map([['destination', 1]]));
  expect(estimateRecordBytes(records.get(plan.dlqTopic)![0]!)).toBeLessThanOrEqual(50_000);
  expect(oversized.map((o) => o.outcome)).toEqual(['value_omitted']);
  expect(completionsOf(records)).toEqual([expect.objectContaining({ destination: 'a', status: 'failed', value: null, valueOmittedBytes: 300_000, error: '503' })]);
});
