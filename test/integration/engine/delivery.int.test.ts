/**
 * Proves the engine's delivery guarantees on the real broker and Redis: fan-out and cascade
 * deliver every event to every destination exactly once, in source order per key at
 * `ordering: key` destinations, with many keys and concurrency > 1; duplicates of one event
 * id are written once; a destination failing 30% of writes still gets every event once.
 */
import { SinkError } from '../../../src/sinks/sink.js';
import { eventually } from '../../helpers/servers.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';

const jitter = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 3));

function topology(mode: 'fanout' | 'cascade', retry = '{ maxAttempts: 5, initialDelayMs: 10, maxDelayMs: 100 }'): string {
  return `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: ${mode}
partitions: 4
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 8
    retry: ${retry}
  - name: inventory
    sink: { type: kafka, topic: '{name}.inventory' }
    concurrency: 8
    retry: ${retry}
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
    concurrency: 8
    ordering: none
    retry: ${retry}
`;
}

async function deliversAll(mode: 'fanout' | 'cascade'): Promise<void> {
  const pipeline = await TestPipeline.create(topology(mode));
  try {
    for (const d of ['ledger', 'inventory', 'notify']) pipeline.behaviours.set(d, jitter);
    await pipeline.start();
    const { records, eventIds } = pipeline.samples(1500, 60);
    await pipeline.produce(records);
    const all = () => ['ledger', 'inventory', 'notify'].every((d) => pipeline.finished(d) === eventIds.length);
    expect(await eventually(all, 120_000, 200)).toBe(true);
    for (const destination of ['ledger', 'inventory', 'notify']) {
      const check = checkExactlyOnceInOrder(await pipeline.written(destination), eventIds);
      expect({ destination, missing: check.missing, duplicated: check.duplicated }).toEqual({ destination, missing: [], duplicated: [] });
      if (destination !== 'notify') expect({ destination, outOfOrderKeys: check.outOfOrderKeys }).toEqual({ destination, outOfOrderKeys: [] });
    }
    expect(pipeline.completions.every((c) => c.status === 'ok')).toBe(true);
    expect(pipeline.deadLetters).toEqual([]);
    if (mode === 'cascade') {
      // A cascade writes inventory only after ledger, and notify only after inventory, for each event.
      const at = (d: string) => new Map(pipeline.completions.filter((c) => c.destination === d).map((c) => [c.eventId, c.at]));
      const [ledger, inventory, notify] = [at('ledger'), at('inventory'), at('notify')];
      expect(eventIds.filter((id) => !(ledger.get(id)! <= inventory.get(id)! && inventory.get(id)! <= notify.get(id)!))).toEqual([]);
    }
  } finally {
    await pipeline.close();
  }
}

test('fan-out delivers every event to every destination exactly once, in key order', () => deliversAll('fanout'));

test('cascade delivers every event to every step exactly once, in key order, step after step', () => deliversAll('cascade'));

test('the same event id produced three times is written once per destination', async () => {
  const pipeline = await TestPipeline.create(topology('fanout'));
  try {
    await pipeline.start();
    const { records, eventIds } = pipeline.samples(300, 20);
    await pipeline.produce(records);
    await pipeline.produce(records); // a producer retry storm, later
    await pipeline.produce([...records.slice(0, 100), ...records.slice(0, 100)]); // and twice within one batch
    expect(await eventually(() => ['ledger', 'inventory', 'notify'].every((d) => pipeline.finished(d) === eventIds.length), 120_000, 200)).toBe(true);
    await pipeline.drained(); // every copy and redelivery processed: a second write would be there now
    for (const destination of ['ledger', 'inventory', 'notify']) {
      const check = checkExactlyOnceInOrder(await pipeline.written(destination), eventIds);
      expect({ destination, missing: check.missing, duplicated: check.duplicated }).toEqual({ destination, missing: [], duplicated: [] });
    }
  } finally {
    await pipeline.close();
  }
});

test('a destination failing 30% of writes still receives every event exactly once', async () => {
  const pipeline = await TestPipeline.create(topology('fanout', '{ maxAttempts: 20, initialDelayMs: 5, maxDelayMs: 50, budgetRatio: 1 }'));
  let failures = 0;
  try {
    pipeline.behaviours.set('ledger', () => {
      if (Math.random() < 0.3) {
        failures += 1;
        throw new SinkError('flaky ledger: 503', 'retriable');
      }
    });
    await pipeline.start();
    const { records, eventIds } = pipeline.samples(1000, 50);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.finished('ledger') === eventIds.length, 120_000, 200)).toBe(true);
    const check = checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds);
    expect(check).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(failures).toBeGreaterThan(150); // the destination really failed about 30% of the calls
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    await pipeline.close();
  }
});
