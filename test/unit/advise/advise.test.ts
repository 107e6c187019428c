/**
 * The advisor's arithmetic on hand-made measurements: retry amplification, critical path per
 * mode, the Amdahl bound, Little's-law concurrency, and the recommendations those numbers
 * lead to; and `measure` reading flowyard's own series (cumulative and between two scrapes).
 */
import { advise, longestPath, pathFigures, type DestinationFigures } from '../../../src/advise/advise.js';
import { measure, type DestinationMeasurement, type Measurements } from '../../../src/advise/measurements.js';
import { renderAdvice } from '../../../src/advise/render.js';
import type { BucketHistogram } from '../../../src/measure/histogram.js';
import { parsePrometheusText, parseQueryResponse } from '../../../src/measure/prom-text.js';
import { metricsLocation } from '../../../src/measure/source.js';
import { parseTopology } from '../../../src/topology/load.js';

/** `count` writes, all between `low` and `high` seconds, with mean `meanS`. */
function histogram(count: number, low: number, high: number, meanS: number): BucketHistogram {
  return { buckets: [{ le: low, count: 0 }, { le: high, count }, { le: Number.POSITIVE_INFINITY, count }], sum: meanS * count, count };
}

function planOf(mode: 'cascade' | 'fanout' | 'dag', extra = ''): ReturnType<typeof parseTopology>['plan'] {
  const after = mode === 'dag' ? { b: ', after: [a]', c: ', after: [a]' } : { b: '', c: '' };
  return parseTopology(
    `name: t\nsource: { topic: t.events, key: k, id: id }\nmode: ${mode}\ndestinations:\n` +
      `  - { name: a, sink: { type: kafka, topic: t.a }, concurrency: 4 }\n` +
      `  - { name: b, sink: { type: kafka, topic: t.b }${after.b} }\n` +
      `  - { name: c, sink: { type: kafka, topic: t.c }${after.c}, ordering: none }\n${extra}`,
    't.yaml',
    {},
  ).plan;
}

// a: 10 ms mean, no failures; b: 40 ms mean, 1.25 calls per event (100 events, 25 retried calls); c: 20 ms.
const measured: DestinationMeasurement[] = [
  { name: 'a', writes: histogram(100, 0.005, 0.02, 0.01), calls: 100, ok: 100, deadLettered: 0 },
  { name: 'b', writes: histogram(125, 0.03, 0.05, 0.04), calls: 125, ok: 98, deadLettered: 2 },
  { name: 'c', writes: histogram(100, 0.01, 0.03, 0.02), calls: 100, ok: 100, deadLettered: 0 },
];
const measurements = (rate: number): Measurements => ({ rate, rateSource: 'test', destinations: measured });

test('retry amplification is calls per decided event, and Little\'s law multiplies it in', () => {
  const advice = advise(planOf('cascade'), measurements(200));
  const b = advice.destinations[1]!;
  expect(b.amplification).toBeCloseTo(1.25, 9);
  expect(b.failureShare).toBeCloseTo(27 / 125, 9);
  expect(b.costPerEvent).toBeCloseTo(0.05, 9);
  // L = λ·A·W = 200/s x 1.25 x 40 ms = 10 writes in flight; at p99 (49.8 ms: 99% of 125 in 30..50 ms) 12.45.
  expect(b.inFlight).toBeCloseTo(10, 9);
  expect(b.inFlightAtP99).toBeCloseTo(200 * 1.25 * (0.03 + 0.02 * 0.99), 9);
});

test('the critical path is the sum in cascade, the slowest branch in fan-out and the longest chain in a dag; Amdahl bounds the gain', () => {
  const cascade = advise(planOf('cascade'), measurements(10)).paths;
  expect(cascade.cascade).toBeCloseTo(0.01 + 0.05 + 0.02, 9);
  expect(cascade.fanout).toBeCloseTo(0.05, 9);
  expect(cascade.critical).toEqual(['a', 'b', 'c']);
  expect(cascade.amdahlBound).toBeCloseTo(0.08 / 0.05, 9);
  expect(cascade.serialFraction).toBeCloseTo(0.05 / 0.08, 9);
  const dag = advise(planOf('dag'), measurements(10)).paths;
  expect(dag.dag).toBeCloseTo(0.01 + 0.05, 9);
  expect(dag.critical).toEqual(['a', 'b']);
  expect(dag.amdahlBound).toBeCloseTo(0.08 / 0.06, 9);
});

test('longestPath follows joins to their slowest parent', () => {
  const f = (name: string, cost: number, after: string[] = []): DestinationFigures =>
    ({ name, costPerEvent: cost, after }) as unknown as DestinationFigures; // only the fields longestPath reads
  expect(longestPath([f('a', 1), f('b', 5, ['a']), f('c', 2, ['a']), f('d', 1, ['b', 'c'])])).toEqual({ seconds: 7, path: ['a', 'b', 'd'] });
  expect(pathFigures('fanout', [f('a', 1), f('b', 3)]).critical).toEqual(['b']);
});

test('recommendations: raise a concurrency Little\'s law says is too small, lower an idle one, parallelise a cascade step that waits long, flag a flaky step with steps after it', () => {
  const advice = advise(planOf('cascade'), measurements(200));
  const [a, b, c] = advice.recommendations;
  // a: 200 x 1 x ~19.85 ms (p99) = 3.97 in flight at p99 within 4 slots: keep.
  expect(a!.concurrency).toEqual({ value: 4, change: 'keep' });
  // b: 12.45 in flight at p99 latency fit its 16 slots; with headroom 1.5 (18.7) they do not: raise to 19.
  expect(b!.concurrency.change).toBe('keep');
  expect(advise(planOf('cascade'), measurements(200), 1.5).recommendations[1]!.concurrency).toEqual({ value: 19, change: 'raise' });
  expect(b!.shape).toBe('last in the chain or a parallel branch');
  expect(b!.because.join('\n')).toMatch(/21\.6% of its calls fail \(1\.25 calls per event\)/);
  // c waits 60 ms of the 80 ms cascade for a and b.
  expect(c!.shape).toMatch(/^parallel branch/);
  expect(c!.ordering).toBe('key, or add ordering.sequencer');
  // At 10 events/s b needs well under a quarter of its 16 slots.
  expect(advise(planOf('cascade'), measurements(10)).recommendations[1]!.concurrency.change).toBe('lower');
  expect(advice.shape.recommended).toBe('fanout');
});

test('a fan-out whose one destination dominates is told a cascade costs little more', () => {
  const dominated: Measurements = {
    rate: 10,
    rateSource: 'test',
    destinations: [
      { name: 'a', writes: histogram(10, 0.001, 0.002, 0.001), calls: 10, ok: 10, deadLettered: 0 },
      { name: 'b', writes: histogram(10, 0.1, 0.3, 0.2), calls: 10, ok: 10, deadLettered: 0 },
      { name: 'c', writes: histogram(10, 0.001, 0.002, 0.001), calls: 10, ok: 10, deadLettered: 0 },
    ],
  };
  const advice = advise(planOf('fanout'), dominated);
  expect(advice.paths.amdahlBound).toBeCloseTo(0.202 / 0.2, 9);
  expect(advice.shape.recommended).toBe('cascade');
  const text = renderAdvice(advice, 'test');
  expect(text).toContain('Amdahl: serial fraction 0.99, going parallel is at most 1.01x faster than the cascade');
  expect(text).toContain('shape: consider cascade: parallel gains only 1.01x (2.0ms per event)');
});

const scrape = (a: number, calls: number) => `flowyard_events_in_total{topology="t",plan="t@1"} ${a}
flowyard_events_in_total{topology="other",plan="o@1"} 999
flowyard_destination_calls_total{topology="t",plan="t@1",destination="a"} ${calls}
flowyard_writes_total{topology="t",plan="t@1",destination="a",outcome="ok"} ${a}
flowyard_write_duration_seconds_bucket{le="0.01",topology="t",plan="t@1",destination="a"} ${calls}
flowyard_write_duration_seconds_bucket{le="+Inf",topology="t",plan="t@1",destination="a"} ${calls}
flowyard_write_duration_seconds_sum{topology="t",plan="t@1",destination="a"} ${calls * 0.005}
flowyard_write_duration_seconds_count{topology="t",plan="t@1",destination="a"} ${calls}
`;

test('measure reads one topology\'s series; between two scrapes it takes the difference and the rate', () => {
  const plan = planOf('fanout');
  const earlier = parsePrometheusText(scrape(100, 110), 'one');
  const later = parsePrometheusText(scrape(300, 330), 'two');
  const cumulative = measure(plan, later);
  expect(cumulative.destinations[0]).toMatchObject({ calls: 330, ok: 300, deadLettered: 0 });
  expect(cumulative.measuredRate).toBeUndefined();
  const windowed = measure(plan, later, { samples: earlier, intervalS: 10 });
  expect(windowed.measuredRate).toBe(20);
  expect(windowed.destinations[0]).toMatchObject({ calls: 220, ok: 200 });
  expect(windowed.destinations[0]!.writes?.count).toBe(220);
  expect(windowed.destinations[1]!.writes).toBeUndefined();
});

test('--metrics: a path ending in /metrics is scraped, another URL is a Prometheus server, anything else a file', () => {
  expect(metricsLocation('http://127.0.0.1:9400/metrics').kind).toBe('scrape');
  expect(metricsLocation('http://prometheus:9090').kind).toBe('prometheus');
  expect(metricsLocation('saved.txt')).toEqual({ kind: 'file', path: 'saved.txt' });
  expect(() => metricsLocation('http://exa mple')).toThrow('--metrics: "http://exa mple" is not a valid URL');
  const answer = { status: 'success', data: { resultType: 'vector', result: [{ metric: { __name__: 'flowyard_events_in_total', topology: 't' }, value: [1, '42'] }] } };
  expect(parseQueryResponse(answer, 'p')).toEqual([{ name: 'flowyard_events_in_total', labels: { topology: 't' }, value: 42 }]);
  expect(() => parseQueryResponse({ status: 'error' }, 'p')).toThrow('p: not a Prometheus instant-vector answer');
});
