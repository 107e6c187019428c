/**
 * The tracker on the real broker and Redis: dag joins released once, after all parents;
 * compensation of the branches that succeeded when another failed for good (cascade newest
 * first, fan-out all), and a compensation that fails for good dead-lettered as `compensation`;
 * records of a kind it does not know on the completions topic are skipped by their `fy-kind`.
 */
import { produce } from '../../../src/kafka/producer.js';
import { createLogger } from '../../../src/observability/logger.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { SinkError } from '../../../src/sinks/sink.js';
import { eventually } from '../../helpers/servers.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';

const ROLES = ['router', 'worker', 'tracker'] as const;
const fastRetry = 'retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 }';

test('a diamond dag releases the join exactly once per event, only after both parents, with many events in flight', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: dag
partitions: 3
destinations:
  - { name: a, sink: { type: kafka, topic: '{name}.a' }, concurrency: 16 }
  - { name: b, after: [a], sink: { type: kafka, topic: '{name}.b' }, concurrency: 16 }
  - { name: c, after: [a], sink: { type: kafka, topic: '{name}.c' }, concurrency: 16 }
  - { name: d, after: [b, c], sink: { type: kafka, topic: '{name}.d' }, concurrency: 16 }
`);
  try {
    const { records, eventIds } = pipeline.samples(400, 25);
    const early: string[] = [];
    // Uneven, random delays so b and c finish in either order and many events overlap.
    const jitter = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 15));
    pipeline.behaviours.set('b', jitter);
    pipeline.behaviours.set('c', jitter);
    pipeline.behaviours.set('d', async (record) => {
      const [b, c] = await Promise.all([pipeline.written('b'), pipeline.written('c')]);
      if (!b.some((w) => w.eventId === record.eventId) || !c.some((w) => w.eventId === record.eventId)) early.push(record.eventId);
    });
    await pipeline.start([...ROLES]);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.finished('d') === 400, 120_000)).toBe(true);

    for (const destination of ['a', 'b', 'c', 'd']) {
      expect(checkExactlyOnceInOrder(await pipeline.written(destination), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    }
    expect(early).toEqual([]);
    // d's input topic got exactly one release per event.
    expect(pipeline.completions.filter((c) => c.destination === 'd').length).toBe(400);
    expect(await eventually(() => pipeline.outcomes.length >= 400, 30_000)).toBe(true);
    const completed = pipeline.outcomes.filter((o) => o.status === 'completed').map((o) => o.eventId);
    expect(completed.sort()).toEqual([...eventIds].sort());
  } finally {
    await pipeline.close();
  }
});

test('a cascade of 3 whose step 3 fails for good compensates step 2 then step 1, once each, and nothing else', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 3
destinations:
  - { name: s1, sink: { type: kafka, topic: '{name}.s1' }, compensate: { type: kafka, topic: '{name}.s1-undo' }, ${fastRetry} }
  - { name: s2, sink: { type: kafka, topic: '{name}.s2' }, compensate: { type: kafka, topic: '{name}.s2-undo' }, ${fastRetry} }
  - { name: s3, sink: { type: kafka, topic: '{name}.s3' }, compensate: { type: kafka, topic: '{name}.s3-undo' }, ${fastRetry} }
`);
  try {
    const { records, eventIds } = pipeline.samples(120, 10);
    const doomed = new Set([eventIds[3]!, eventIds[50]!, eventIds[51]!, eventIds[119]!]);
    const undone: [string, string][] = [];
    pipeline.behaviours.set('s3', (record) => {
      if (doomed.has(record.eventId)) throw new SinkError('s3 refused: 422', 'permanent');
    });
    // Slow undo of s2: if s1 were undone in parallel it would overtake.
    pipeline.behaviours.set('s2.compensate', async (record) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      undone.push(['s2', record.eventId]);
    });
    pipeline.behaviours.set('s1.compensate', (record) => void undone.push(['s1', record.eventId]));
    await pipeline.start([...ROLES]);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.finished('s3') === 120 && undone.length >= 8, 120_000)).toBe(true);
    await pipeline.drained(); // a wrong extra compensation would be there now

    for (const id of doomed) expect(undone.filter(([, e]) => e === id).map(([step]) => step)).toEqual(['s2', 's1']);
    expect(undone.length).toBe(8);
    expect((await pipeline.written('s3.compensate')).length).toBe(0);
    expect(new Set((await pipeline.written('s1.compensate')).map((w) => w.eventId))).toEqual(doomed);
    expect(checkExactlyOnceInOrder(await pipeline.written('s1.compensate'), [...doomed]).duplicated).toEqual([]);
    expect(pipeline.deadLetters.map((l) => l.headers[HEADER.eventId]).sort()).toEqual([...doomed].sort());
    const failed = pipeline.outcomes.filter((o) => o.status === 'failed');
    expect(new Set(failed.map((o) => o.eventId))).toEqual(doomed);
    expect(failed.every((o) => o.failed.join() === 's3')).toBe(true);
    expect(pipeline.compensations.filter((c) => c.status === 'ok').length).toBe(8);
  } finally {
    await pipeline.close();
  }
});

test('a fan-out branch that fails for good compensates the branches that succeeded; the DLQ holds the failure and a failed compensation', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - { name: ledger, sink: { type: kafka, topic: '{name}.ledger' }, compensate: { type: kafka, topic: '{name}.reversals' }, ${fastRetry} }
  - { name: cache, sink: { type: kafka, topic: '{name}.cache' }, compensate: { type: kafka, topic: '{name}.evictions' }, ${fastRetry} }
  - { name: search, sink: { type: kafka, topic: '{name}.search' }, ${fastRetry} }
`);
  try {
    const { records, eventIds } = pipeline.samples(100, 8);
    const doomed = new Set([eventIds[7]!, eventIds[42]!, eventIds[77]!]);
    const undoRefused = eventIds[42]!;
    pipeline.behaviours.set('search', (record) => {
      if (doomed.has(record.eventId)) throw new SinkError('search index rejected the document', 'permanent');
    });
    pipeline.behaviours.set('cache.compensate', (record) => {
      if (record.eventId === undoRefused) throw new SinkError('cache eviction refused', 'permanent');
    });
    await pipeline.start([...ROLES]);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.compensations.length >= 6 && pipeline.deadLetters.length >= 4, 120_000)).toBe(true);
    await pipeline.drained();

    expect(new Set((await pipeline.written('ledger.compensate')).map((w) => w.eventId))).toEqual(doomed);
    expect((await pipeline.written('ledger.compensate')).length).toBe(3);
    expect(new Set((await pipeline.written('cache.compensate')).map((w) => w.eventId))).toEqual(new Set([...doomed].filter((id) => id !== undoRefused)));
    const letters = pipeline.deadLetters.map((l) => [l.headers[HEADER.eventId], l.headers[HEADER.destination], l.headers[HEADER.errorClass]]);
    expect(letters.filter(([, d]) => d === 'search').map(([id]) => id).sort()).toEqual([...doomed].sort());
    expect(letters.filter(([, d]) => d === 'cache')).toEqual([[undoRefused, 'cache', 'compensation']]);
    expect(letters.length).toBe(4);
    // Events that did not fail are never compensated, and complete.
    expect(await eventually(() => pipeline.outcomes.filter((o) => o.status === 'completed').length === 97, 30_000)).toBe(true);
  } finally {
    await pipeline.close();
  }
});

test('records of a kind the tracker does not know share the completions topic: skipped by fy-kind, unparsed and unlogged, every event still decided', async () => {
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const pipeline = await TestPipeline.create(
    `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - { name: a, sink: { type: kafka, topic: '{name}.a' } }
  - { name: b, sink: { type: kafka, topic: '{name}.b' } }
`,
    {},
    logger,
  );
  try {
    const { records, eventIds } = pipeline.samples(60, 6);
    const foreign = (i: number) => ({ key: `customer-${i % 6}`, value: Buffer.from(`\u0000 not json {${i}`), headers: { [HEADER.kind]: 'audit', [HEADER.eventId]: eventIds[i]! } });
    const producer = await pipeline.shared.kafka.producer();
    try {
      await produce(producer, pipeline.plan.completionsTopic, Array.from({ length: 10 }, (_, i) => foreign(i)));
      await pipeline.start([...ROLES]);
      await pipeline.produce(records);
      await produce(producer, pipeline.plan.completionsTopic, Array.from({ length: 10 }, (_, i) => foreign(10 + i)));
    } finally {
      await producer.disconnect();
    }
    expect(await eventually(() => pipeline.outcomes.length >= 60, 120_000)).toBe(true);
    await pipeline.drained();
    expect(pipeline.outcomes.filter((o) => o.status === 'completed').map((o) => o.eventId).sort()).toEqual([...eventIds].sort());
    expect(logs.map((l) => l.msg)).not.toContain('completions record not of this plan; ignored');
  } finally {
    await pipeline.close();
  }
});
