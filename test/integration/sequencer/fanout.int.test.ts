/**
 * The whole chain on real Kafka and Redis (router, workers, tracker, sequencer): a fan-out
 * whose destinations run `ordering: none` at concurrency 64 writes events in any order, and
 * the sequenced output still has every event once, per key in seq (= source) order. A worker
 * that holds one event past holdMs makes a gap that is skipped; when the event finally
 * completes it is dead-lettered as `late`, and the key's later events are not held up.
 */
import { HEADER } from '../../../src/runtime/headers.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';
import { SequencedOutput, checkSequenced, readSequenced } from '../../helpers/sequencer.js';
import { eventually } from '../../helpers/servers.js';

const jitter = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 8));

function topology(holdMs: number): string {
  return `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 64
    ordering: none
    timeoutMs: 120000
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
    concurrency: 64
    ordering: none
    timeoutMs: 120000
ordering:
  sequencer: { output: '{name}.sequenced', holdMs: ${holdMs} }
`;
}

/** Per key, the source position `n` of each sequenced event must increase too. */
function sourceOrderBroken(output: SequencedOutput): string[] {
  const last = new Map<string, number>();
  const broken = new Set<string>();
  for (const record of output.records) {
    const n = (JSON.parse(record.value!) as { n: number }).n;
    if ((last.get(record.key) ?? -1) >= n) broken.add(record.key);
    last.set(record.key, n);
  }
  return [...broken];
}

let pipeline: TestPipeline | undefined;
let output: SequencedOutput | undefined;

afterEach(async () => {
  await output?.stop();
  await pipeline?.close();
  output = undefined;
  pipeline = undefined;
});

test('10,000 events over 200 keys, ordering none at concurrency 64: the sequenced output is complete and in seq order per key', async () => {
  pipeline = await TestPipeline.create(topology(10_000));
  const p = pipeline;
  output = await SequencedOutput.tail(p.shared.kafka, p.plan);
  const out = output;
  for (const d of ['ledger', 'notify']) p.behaviours.set(d, jitter);
  await p.start(['router', 'worker', 'tracker', 'sequencer']);
  const { records, eventIds } = p.samples(10_000, 200);
  await p.produce(records);

  expect(await eventually(() => out.records.length >= eventIds.length, 170_000, 250)).toBe(true);
  await p.drained(); // a repeat would be there now
  expect(checkSequenced(await readSequenced(p.shared.kafka, p.plan), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
  expect(sourceOrderBroken(out)).toEqual([]);
  expect(p.deadLetters).toEqual([]);
  // The destinations really did write out of order: the order came back at the sequencer.
  const ledger = checkExactlyOnceInOrder(await p.written('ledger'), eventIds);
  expect({ missing: ledger.missing, duplicated: ledger.duplicated }).toEqual({ missing: [], duplicated: [] });
  expect(ledger.outOfOrderKeys.length).toBeGreaterThan(0);
}, 240_000);

test('a worker that holds one event past holdMs: the gap is skipped, the late arrival is dead-lettered as late, later events flow', async () => {
  pipeline = await TestPipeline.create(topology(2_000));
  const p = pipeline;
  output = await SequencedOutput.tail(p.shared.kafka, p.plan);
  const out = output;
  const { records, eventIds } = p.samples(200, 10); // customer-3 gets events 3, 13, 23, ...
  const held = eventIds[53]!; // customer-3's 6th event
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  p.behaviours.set('ledger', async (record) => {
    if (record.eventId === held) await gate;
  });
  await p.start(['router', 'worker', 'tracker', 'sequencer']);
  await p.produce(records);

  // Everything but the held event comes out, customer-3's later events included, once the gap is skipped.
  expect(await eventually(() => out.records.length >= eventIds.length - 1, 120_000, 100)).toBe(true);
  const customer3 = out.records.filter((r) => r.key === 'customer-3').map((r) => r.seq);
  expect(customer3).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  expect(out.records.some((r) => r.eventId === held)).toBe(false);
  expect(p.deadLetters).toEqual([]);

  release();
  expect(await eventually(() => p.deadLetters.length === 1, 60_000, 100)).toBe(true);
  const [late] = p.deadLetters;
  expect(late!.headers[HEADER.errorClass]).toBe('late');
  expect(late!.headers[HEADER.eventId]).toBe(held);
  expect(late!.headers[HEADER.seq]).toBe('6');
  await p.drained();
  expect(checkSequenced(await readSequenced(p.shared.kafka, p.plan), eventIds.filter((id) => id !== held))).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
});
