import { fromHistogram, logNormal, normalQuantile } from '../../../src/trial/latency.js';
import { uniformAt } from '../../../src/trial/random.js';
import { histogramOf, quantile } from '../../../src/measure/histogram.js';
import { parsePrometheusText } from '../../../src/measure/prom-text.js';
import { percentile } from '../../../src/trial/summary.js';

function empirical(sample: (u1: number, u2: number) => number, n = 20_000): Float64Array {
  const values = new Float64Array(n);
  for (let i = 0; i < n; i += 1) values[i] = sample(uniformAt(42, i, 1), uniformAt(42, i, 2));
  return values.sort();
}

test('normalQuantile matches the standard normal table', () => {
  expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
  expect(normalQuantile(0.99)).toBeCloseTo(2.326347874, 6);
  expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 6);
  expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 6);
});

test('a log-normal fitted to p50 20ms and p99 80ms has those quantiles, and seeded samples reproduce them', () => {
  const model = logNormal(20, { point: 'p99', ms: 80 });
  expect(model.quantile(0.5)).toBeCloseTo(20, 6);
  expect(model.quantile(0.99)).toBeCloseTo(80, 4);
  const values = empirical(model.sample);
  expect(percentile(values, 0.5)).toBeGreaterThan(19);
  expect(percentile(values, 0.5)).toBeLessThan(21);
  expect(percentile(values, 0.99)).toBeGreaterThan(72);
  expect(percentile(values, 0.99)).toBeLessThan(88);
});

test('p50 alone is a fixed latency', () => {
  const model = logNormal(15);
  expect(model.sample(0.1, 0.9)).toBeCloseTo(15, 9);
  expect(model.sample(0.99, 0.3)).toBeCloseTo(15, 9);
});

const metrics = `# HELP flowyard_write_duration_seconds Duration of one destination write attempt.
# TYPE flowyard_write_duration_seconds histogram
flowyard_write_duration_seconds_bucket{le="0.01",topology="t",plan="t@1",destination="a"} 0
flowyard_write_duration_seconds_bucket{le="0.025",topology="t",plan="t@1",destination="a"} 50
flowyard_write_duration_seconds_bucket{le="0.05",topology="t",plan="t@1",destination="a"} 90
flowyard_write_duration_seconds_bucket{le="+Inf",topology="t",plan="t@1",destination="a"} 100
flowyard_write_duration_seconds_sum{topology="t",plan="t@1",destination="a"} 2.5
flowyard_write_duration_seconds_count{topology="t",plan="t@1",destination="a"} 100
flowyard_write_duration_seconds_bucket{le="0.01",topology="t",plan="t@2",destination="a"} 0
flowyard_write_duration_seconds_bucket{le="0.025",topology="t",plan="t@2",destination="a"} 50
flowyard_write_duration_seconds_bucket{le="0.05",topology="t",plan="t@2",destination="a"} 90
flowyard_write_duration_seconds_bucket{le="+Inf",topology="t",plan="t@2",destination="a"} 100
flowyard_write_duration_seconds_sum{topology="t",plan="t@2",destination="a"} 2.5
flowyard_write_duration_seconds_count{topology="t",plan="t@2",destination="a"} 100
`;

test('a histogram from /metrics sums its plans and gives histogram_quantile\'s numbers', () => {
  const histogram = histogramOf(parsePrometheusText(metrics, 'm'), 'flowyard_write_duration_seconds', { destination: 'a' })!;
  expect(histogram.count).toBe(200);
  expect(histogram.sum).toBeCloseTo(5, 9);
  // rank 100 is the top of the 0.01..0.025 bucket; rank 140 is 40/80 into 0.025..0.05.
  expect(quantile(histogram, 0.5)).toBeCloseTo(0.025, 9);
  expect(quantile(histogram, 0.7)).toBeCloseTo(0.0375, 9);
  // In the +Inf bucket: the highest finite bound, as PromQL does.
  expect(quantile(histogram, 0.99)).toBeCloseTo(0.05, 9);
});

test('sampling a measured histogram lands every draw inside its buckets, in their proportions', () => {
  const histogram = histogramOf(parsePrometheusText(metrics, 'm'), 'flowyard_write_duration_seconds', { destination: 'a' })!;
  const values = empirical(fromHistogram(histogram, 'm').sample);
  expect(values[0]).toBeGreaterThanOrEqual(10);
  expect(values[values.length - 1]).toBeLessThanOrEqual(50);
  const below25 = values.filter((v) => v <= 25).length / values.length;
  expect(below25).toBeGreaterThan(0.48);
  expect(below25).toBeLessThan(0.52);
});

test('a line that is not a sample names its line number', () => {
  expect(() => parsePrometheusText('# ok\nflowyard_x 1\nthis is not {a sample\n', 'saved.txt')).toThrow('saved.txt:3: not a Prometheus sample line');
});
