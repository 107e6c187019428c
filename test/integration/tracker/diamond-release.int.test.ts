/**
 * Proves that the tracker releases a diamond dag's join (A -> B, A -> C, B + C -> D) exactly
 * once per event, counted where a duplicate would land: every record on D's input topic is
 * read (from before the first event) and counted per event id, after a settle period of 3 s
 * past the last verdict, so a late second release is caught, not just a prompt one.
 */
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';

test('a diamond dag puts exactly one release per event on the join\'s input topic, and D writes each event once, still so 3 s after the last completion', async () => {
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
  const d = pipeline.plan.destinations.find((x) => x.name === 'd')!;
  const releases: ConsumedRecord[] = [];
  const tail = await pipeline.shared.kafka.tail([d.inputTopic], (record) => releases.push(record));
  try {
    expect(d.releasedBy).toBe('tracker');
    const events = 300;
    const { records, eventIds } = pipeline.samples(events, 20);
    // Uneven delays so b and c finish in either order, close together or far apart.
    const jitter = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 20));
    pipeline.behaviours.set('b', jitter);
    pipeline.behaviours.set('c', jitter);
    await pipeline.start(['router', 'worker', 'tracker']);
    await pipeline.produce(records);

    expect(await eventually(() => pipeline.finished('d') === events && pipeline.outcomes.length >= events, 120_000)).toBe(true);
    await pipeline.drained(); // a late duplicate release would be there now

    const perEvent = new Map<string, number>();
    for (const record of releases) {
      const id = record.headers[HEADER.eventId]!;
      perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    }
    expect(eventIds.filter((id) => perEvent.get(id) !== 1)).toEqual([]);
    expect(releases).toHaveLength(events);
    // The release carries the event's original bytes and its routed headers.
    const byId = new Map(releases.map((r) => [r.headers[HEADER.eventId]!, r]));
    eventIds.forEach((id, i) => {
      expect(byId.get(id)!.value!.toString()).toBe(String(records[i]!.value));
      expect(byId.get(id)!.headers[HEADER.plan]).toBe(pipeline.plan.id);
    });

    // D wrote each event once, per key in order; and reported once per event.
    expect(checkExactlyOnceInOrder(await pipeline.written('d'), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(pipeline.completions.filter((c) => c.destination === 'd')).toHaveLength(events);
    // One verdict per event, all completed.
    expect(pipeline.outcomes).toHaveLength(events);
    expect(pipeline.outcomes.every((o) => o.status === 'completed')).toBe(true);
  } finally {
    await tail.stop();
    await pipeline.close();
  }
});
