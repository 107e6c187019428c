/**
 * Proves what happens when things fail, on the real broker and Redis: a permanent failure
 * is dead-lettered with the §4 headers without holding up other keys; an undecodable event
 * is dead-lettered and the pipeline goes on; a cascade stops at a failing step for that
 * event only; a destination down for 30 s opens its circuit, pauses, then drains everything.
 */
import { HEADER } from '../../../src/runtime/headers.js';
import { SinkError } from '../../../src/sinks/sink.js';
import { eventually } from '../../helpers/servers.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';

const fanout = `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 4
    retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50 }
  - name: inventory
    sink: { type: kafka, topic: '{name}.inventory' }
`;

test('a permanently failing event lands in the DLQ with the §4 headers and does not hold up its key or others', async () => {
  const pipeline = await TestPipeline.create(fanout);
  try {
    const { records, eventIds } = pipeline.samples(200, 5);
    const poisoned = eventIds[10]!; // key customer-0
    pipeline.behaviours.set('ledger', (record) => {
      if (record.eventId === poisoned) throw new SinkError('ledger refused: 422 amount must be positive', 'permanent');
    });
    await pipeline.start();
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.finished('ledger') === 200 && pipeline.finished('inventory') === 200, 60_000)).toBe(true);

    const check = checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds);
    expect(check).toEqual({ missing: [poisoned], duplicated: [], outOfOrderKeys: [] });
    expect(checkExactlyOnceInOrder(await pipeline.written('inventory'), eventIds).missing).toEqual([]);

    expect(await eventually(() => pipeline.deadLetters.length === 1, 10_000)).toBe(true);
    const [letter] = pipeline.deadLetters;
    expect(letter!.value!.equals(Buffer.from(records[10]!.value as string))).toBe(true); // the original bytes
    expect(letter!.headers).toMatchObject({
      [HEADER.plan]: pipeline.plan.id,
      [HEADER.eventId]: poisoned,
      [HEADER.key]: 'customer-0',
      [HEADER.error]: 'ledger refused: 422 amount must be positive',
      [HEADER.errorClass]: 'invalid',
      [HEADER.destination]: 'ledger',
      [HEADER.attempts]: '1',
    });
    expect(letter!.headers[HEADER.origin]).toMatch(new RegExp(`^${pipeline.plan.destinations[0]!.inputTopic}/\\d+/\\d+$`));
    const failed = pipeline.completions.filter((c) => c.status === 'failed');
    expect(failed.map((c) => [c.eventId, c.destination])).toEqual([[poisoned, 'ledger']]);
  } finally {
    await pipeline.close();
  }
});

test('an undecodable event goes to the DLQ and the pipeline goes on', async () => {
  const pipeline = await TestPipeline.create(fanout);
  try {
    await pipeline.start();
    const { records, eventIds } = pipeline.samples(100, 10);
    const bad = [
      { key: 'x', value: '{"customerId": "c1", "eventId": ' }, // truncated JSON
      { key: 'x', value: '{"customerId": "c1"}' }, // no event id
      { key: 'x', value: '[1, 2, 3]' }, // not an object
    ];
    await pipeline.produce([...records.slice(0, 50), ...bad, ...records.slice(50)]);
    expect(await eventually(() => pipeline.finished('ledger') === 100 && pipeline.finished('inventory') === 100, 60_000)).toBe(true);
    expect(await eventually(() => pipeline.deadLetters.length === 3, 10_000)).toBe(true);
    expect(pipeline.deadLetters.map((l) => [l.headers[HEADER.errorClass], l.headers[HEADER.destination]])).toEqual([
      ['invalid', 'router'],
      ['invalid', 'router'],
      ['invalid', 'router'],
    ]);
    expect(pipeline.deadLetters.map((l) => l.headers[HEADER.error])).toEqual([
      expect.stringMatching(/^not JSON: /),
      'event id: field eventId is missing',
      'expected a JSON object, got an array',
    ]);
    expect(pipeline.deadLetters.map((l) => l.value!.toString())).toEqual(bad.map((b) => b.value));
    expect(checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds).missing).toEqual([]);
  } finally {
    await pipeline.close();
  }
});

test('a cascade stops at a failing step for that event only, and the DLQ names the step', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
  - name: inventory
    sink: { type: kafka, topic: '{name}.inventory' }
    retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 }
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
`);
  try {
    const { records, eventIds } = pipeline.samples(150, 10);
    const failing = eventIds[7]!;
    pipeline.behaviours.set('inventory', (record) => {
      if (record.eventId === failing) throw new SinkError('inventory service: 503', 'retriable');
    });
    await pipeline.start();
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.finished('notify') === 149 && pipeline.deadLetters.length === 1, 60_000)).toBe(true);
    await pipeline.drained();
    expect(checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds).missing).toEqual([]);
    expect(checkExactlyOnceInOrder(await pipeline.written('inventory'), eventIds).missing).toEqual([failing]);
    expect(checkExactlyOnceInOrder(await pipeline.written('notify'), eventIds).missing).toEqual([failing]);
    expect(pipeline.deadLetters[0]!.headers).toMatchObject({
      [HEADER.eventId]: failing,
      [HEADER.destination]: 'inventory',
      [HEADER.errorClass]: 'destination',
      [HEADER.attempts]: '2',
      [HEADER.error]: 'gave up after 2 attempts: inventory service: 503',
    });
  } finally {
    await pipeline.close();
  }
});

test('a destination down for 30 s opens its circuit and pauses, then drains the backlog with nothing lost', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 8
    retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 }
    circuitBreaker: { failureRatio: 0.5, minRequests: 5, halfOpenAfterMs: 2000 }
  - name: inventory
    sink: { type: kafka, topic: '{name}.inventory' }
`);
  let downUntil = 0;
  let callsWhileDown = 0;
  try {
    pipeline.behaviours.set('ledger', () => {
      if (Date.now() < downUntil) {
        callsWhileDown += 1;
        throw new SinkError('connect ECONNREFUSED ledger:5432', 'retriable');
      }
    });
    await pipeline.start();
    const metric = async (name: string) => (await pipeline.shared.registry.getSingleMetric(name)!.get()).values;
    const first = pipeline.samples(600, 30);
    downUntil = Date.now() + 30_000;
    await pipeline.produce(first.records);

    const circuitOpen = async () => (await metric('flowyard_circuit_state')).some((v) => v.labels.destination === 'ledger' && v.value === 2);
    expect(await eventually(circuitOpen, 20_000)).toBe(true);
    const paused = async () => (await metric('flowyard_paused_partitions')).some((v) => v.labels.group === pipeline.plan.destinations[0]!.group && v.value > 0);
    expect(await eventually(paused, 5_000)).toBe(true);
    // The healthy branch keeps flowing while the ledger is down.
    expect(await eventually(() => pipeline.finished('inventory') === 600, 20_000)).toBe(true);
    expect(Date.now()).toBeLessThan(downUntil);
    // While open, the breaker lets only probes through: far fewer calls than events.
    expect(callsWhileDown).toBeLessThan(100);

    expect(await eventually(() => pipeline.finished('ledger') === 600, 90_000, 250)).toBe(true);
    const check = checkExactlyOnceInOrder(await pipeline.written('ledger'), first.eventIds);
    expect(check).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(pipeline.deadLetters).toEqual([]);
    expect(await eventually(async () => !(await circuitOpen()), 5_000)).toBe(true);
  } finally {
    await pipeline.close();
  }
});
