/**
 * The trial's simulation core: exact latencies of the three shapes with fixed latencies,
 * Little's law as a throughput ceiling, key order, retries, breakers, outages, compensation
 * counts, and reproducibility from the seed.
 */
import { logNormal } from '../../../src/trial/latency.js';
import { uniformAt } from '../../../src/trial/random.js';
import { arrivalTimes, EventQueue, simulate, type SimDestination, type SimOptions } from '../../../src/trial/simulate.js';
import { blastRadius, summarise } from '../../../src/trial/summary.js';
import { lineChart } from '../../../src/trial/svg.js';

function destination(name: string, latencyMs: number, extra: Partial<SimDestination> = {}): SimDestination {
  return {
    name,
    after: [],
    latency: logNormal(latencyMs),
    errorRate: 0,
    timeoutMs: 5_000,
    retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1_000 },
    concurrency: 1_000,
    ordering: 'key',
    circuitBreaker: { failureRatio: 1, minRequests: 1_000_000, windowMs: 10_000, halfOpenAfterMs: 1_000 },
    compensates: false,
    ...extra,
  };
}

function options(overrides: Partial<SimOptions>): SimOptions {
  return { shape: 'fanout', destinations: [], rate: 10, durationMs: 10_000, keys: 1_000_000, seed: 7, hopMs: 2, drainMs: 600_000, ...overrides };
}

const three = [destination('a', 10), destination('b', 30, { after: ['a'] }), destination('c', 20, { after: ['a'] })];

test('with fixed latencies and no contention, cascade takes the sum, fan-out the slowest branch, dag the critical path', () => {
  // Every hop costs 2 ms: router -> first, each hand-on, last completion -> tracker.
  const latency = (shape: SimOptions['shape']): number => summarise(simulate(options({ shape, destinations: three }))).p50;
  expect(latency('cascade')).toBeCloseTo(2 + 10 + 2 + 30 + 2 + 20 + 2, 6);
  expect(latency('fanout')).toBeCloseTo(2 + 30 + 2, 6);
  expect(latency('dag')).toBeCloseTo(2 + 10 + 2 + 30 + 2, 6);
});

test('a join waits for its slowest parent and costs the tracker hop', () => {
  const diamond = [...three, destination('d', 5, { after: ['b', 'c'] })];
  const summary = summarise(simulate(options({ shape: 'dag', destinations: diamond })));
  // a, then b (slower than c), then two hops through completions and the tracker, d, then the verdict.
  expect(summary.p50).toBeCloseTo(2 + 10 + 2 + 30 + 4 + 5 + 2, 6);
});

test('the same seed gives the same run; another seed another one', () => {
  const destinations = [destination('a', 10, { latency: logNormal(10, { point: 'p99', ms: 50 }), errorRate: 0.1 })];
  const first = simulate(options({ destinations, rate: 200 }));
  const again = simulate(options({ destinations, rate: 200 }));
  const other = simulate(options({ destinations, rate: 200, seed: 8 }));
  expect(Array.from(again.decidedAt)).toEqual(Array.from(first.decidedAt));
  expect(Array.from(other.decidedAt)).not.toEqual(Array.from(first.decidedAt));
});

test('throughput cannot pass concurrency / latency (Little\'s law): 2 slots of 100 ms serve at most 20 events/s', () => {
  const destinations = [destination('slow', 100, { concurrency: 2, ordering: 'none' })];
  const summary = summarise(simulate(options({ destinations, rate: 50, durationMs: 20_000 })));
  expect(summary.completed).toBe(summary.events);
  expect(summary.throughput).toBeLessThanOrEqual(20.0001);
  expect(summary.throughput).toBeGreaterThan(19);
});

test('with ordering key a destination writes each key\'s events in arrival order, even with variable latency', () => {
  const destinations = [destination('a', 10, { latency: logNormal(10, { point: 'p99', ms: 200 }), concurrency: 8 })];
  const result = simulate(options({ destinations, rate: 300, keys: 5 }));
  const okAt = result.destinations[0]!.okAt;
  const byKey = new Map<number, number>();
  let outOfOrder = 0;
  // Keys are drawn per event index from the seed; `uniform` reproduces the draw simulate makes.
  for (let event = 0; event < okAt.length; event += 1) {
    const key = Math.floor(uniform(event) * 5);
    const last = byKey.get(key) ?? -1;
    if (okAt[event]! < last) outOfOrder += 1;
    byKey.set(key, okAt[event]!);
  }
  expect(okAt.every((t) => !Number.isNaN(t))).toBe(true);
  expect(outOfOrder).toBe(0);
  // With ordering none the same workload does overtake within a key.
  const unordered = simulate(options({ destinations: [{ ...destinations[0]!, ordering: 'none' }], rate: 300, keys: 5 }));
  const lastNone = new Map<number, number>();
  let overtaken = 0;
  for (let event = 0; event < okAt.length; event += 1) {
    const key = Math.floor(uniform(event) * 5);
    if (unordered.destinations[0]!.okAt[event]! < (lastNone.get(key) ?? -1)) overtaken += 1;
    lastNone.set(key, unordered.destinations[0]!.okAt[event]!);
  }
  expect(overtaken).toBeGreaterThan(0);
});

function uniform(event: number): number {
  return uniformAt(7, event, 0, 0, 7);
}

test('a destination that always fails dead-letters every event after maxAttempts calls; in cascade the steps after it get nothing and the steps before are compensated', () => {
  const destinations = [destination('ledger', 5, { compensates: true }), destination('notify', 5, { errorRate: 1 }), destination('archive', 5)];
  const result = simulate(options({ shape: 'cascade', destinations }));
  const summary = summarise(result);
  const events = summary.events;
  expect(summary.failed).toBe(events);
  expect(result.destinations[1]!.deadLettered).toBe(events);
  expect(result.destinations[1]!.calls).toBe(3 * events);
  expect(result.destinations[1]!.retries).toBe(2 * events);
  expect(result.destinations[2]!.calls).toBe(0);
  expect(summary.compensations).toBe(events);
});

test('an outage in fan-out touches only its destination; in cascade every later step loses what the failing one dead-lettered', () => {
  const destinations = [destination('ledger', 10), destination('inventory', 10), destination('notify', 10)];
  const outage = { destination: 'ledger', atMs: 3_000, forMs: 2_000 };
  for (const shape of ['fanout', 'cascade'] as const) {
    const base = options({ shape, destinations, rate: 50 });
    const blast = blastRadius(simulate({ ...base, outage }), simulate(base), () => 10);
    const ledger = blast[0]!;
    expect(ledger.deadLettered).toBeGreaterThan(0);
    expect(ledger.failed).toBe(ledger.deadLettered);
    if (shape === 'fanout') expect(blast.slice(1).every((b) => b.failed === 0 && b.delayed === 0 && b.deadLettered === 0)).toBe(true);
    else expect(blast.slice(1).every((b) => b.failed === ledger.failed && b.deadLettered === 0)).toBe(true);
  }
});

test('an open circuit holds events instead of failing them: with the breaker they wait, without it they are dead-lettered', () => {
  const outage = { destination: 'ledger', atMs: 2_000, forMs: 1_000 };
  const retry = { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 10 };
  // A short window, so the failures of the outage are not diluted by the successes before it.
  const open = { failureRatio: 0.5, minRequests: 5, windowMs: 200, halfOpenAfterMs: 2_000 };
  const withBreaker = simulate(options({ destinations: [destination('ledger', 5, { retry, circuitBreaker: open })], rate: 100, durationMs: 6_000, outage }));
  const without = simulate(options({ destinations: [destination('ledger', 5, { retry })], rate: 100, durationMs: 6_000, outage }));
  expect(withBreaker.destinations[0]!.deadLettered).toBeLessThan(without.destinations[0]!.deadLettered);
  expect(summarise(withBreaker).p99).toBeGreaterThan(summarise(without).p99);
});

test('a spike multiplies arrivals inside its window only', () => {
  const times = arrivalTimes({ rate: 100, durationMs: 30_000, seed: 3, spike: { factor: 4, atMs: 10_000, forMs: 10_000 } });
  const inWindow = Array.from(times).filter((t) => t >= 10_000 && t < 20_000).length;
  const before = Array.from(times).filter((t) => t < 10_000).length;
  expect(inWindow / before).toBeGreaterThan(3.5);
  expect(inWindow / before).toBeLessThan(4.5);
});

test('the event queue pops by time, ties in insertion order', () => {
  const queue = new EventQueue<string>();
  queue.push(5, 'c');
  queue.push(1, 'a');
  queue.push(5, 'd');
  queue.push(2, 'b');
  expect([queue.pop()!.item, queue.pop()!.item, queue.pop()!.item, queue.pop()!.item]).toEqual(['a', 'b', 'c', 'd']);
});

test('a chart has one line and one legend entry per series, escaped', () => {
  const svg = lineChart({ title: 'p<99>', xLabel: 'x', yLabel: 'y', series: [{ label: 'cascade', points: [[1, 0], [10, 1]] }, { label: 'fanout', points: [[2, 0], [5, 1]] }], logX: true });
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.match(/<polyline/g)).toHaveLength(2);
  expect(svg).toContain('p&lt;99&gt;');
  expect(svg).toContain('>fanout</text>');
});
