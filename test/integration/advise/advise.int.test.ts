/**
 * `flowyard advise` on a real run: a fan-out on the real broker and Redis whose destination c
 * fails some first calls, its /metrics served by the ops HTTP server. With --rate the advice
 * uses everything measured, and its figures are the run's (calls per event, failure share,
 * dead letters, Little's law from the measured mean); without it the rate is measured
 * between two scrapes while traffic flows.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sum } from '../../../src/measure/prom-text.js';
import { captureCli } from '../../helpers/cli.js';
import { failAtC, fanoutToABC, serveMetrics, type MetricsEndpoint } from '../../helpers/metrics.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';

test('advise reads a running flowyard\'s /metrics and prints the run\'s figures and a recommendation per destination', async () => {
  const pipeline = await TestPipeline.create(fanoutToABC({ c: 'ordering: none' }));
  let metrics: MetricsEndpoint | undefined;
  const dir = await mkdtemp(join(tmpdir(), 'fy-advise-'));
  try {
    const { records, eventIds } = pipeline.samples(80, 8);
    const flaky = new Set(eventIds.slice(0, 8)); // first call fails: 88 calls for 80 events
    const doomed = new Set(eventIds.slice(10, 12)); // every call fails: dead-lettered after 3
    failAtC(pipeline, flaky, doomed);
    await pipeline.start(['router', 'worker', 'tracker']);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.outcomes.length === eventIds.length, 120_000, 200)).toBe(true);
    metrics = await serveMetrics(pipeline.shared.registry);
    const { url } = metrics;
    const cCalls = 80 + flaky.size + doomed.size * 2;
    // The end-to-end histogram is observed right after the verdicts, a write's duration before its completion is read back.
    const counted = async (name: string, match: Record<string, string>, expected: number): Promise<boolean> => sum(await metrics!.samples(), name, match) === expected;
    expect(await eventually(() => counted('flowyard_write_duration_seconds_count', { destination: 'c' }, cCalls), 30_000)).toBe(true);
    expect(await eventually(() => counted('flowyard_end_to_end_latency_seconds_count', {}, 78), 30_000)).toBe(true);

    const topology = join(dir, 'topology.yaml');
    await writeFile(topology, pipeline.yaml);
    const result = await captureCli('advise', topology, '--metrics', url, '--rate', '50');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const row = (name: string): string[] => result.stdout.split('\n').find((l) => l.startsWith(`${name} `))!.trim().split(/\s+/);
    // destination, calls/event, fail/call, DLQ, p50, p95, p99, mean, in flight, at p99, concurrency, ordering
    expect(row('a').slice(0, 4)).toEqual(['a', '1.00', '0.00%', '0']);
    expect(row('c').slice(0, 4)).toEqual(['c', (cCalls / 80).toFixed(2), `${(((cCalls - 78) / cCalls) * 100).toFixed(1)}%`, String(doomed.size)]);
    expect(row('c').slice(10)).toEqual(['16', 'none']);
    expect(result.stdout).toContain(`rate λ = 50.0 events/s (from --rate`);
    expect(result.stdout).toMatch(/^critical path \(fanout\): [abc] = /m);
    expect(result.stdout).toMatch(/^measured end to end: p50 \S+, p99 \S+, mean \S+ over 78 events/m);
    expect(result.stdout).toMatch(/^branch spread \(slowest minus fastest destination per event\): p50/m);
    expect(result.stdout).toMatch(/^c: .*; ordering key, or add ordering.sequencer$/m);
    expect(result.stdout).toMatch(/^ {2}- retries amplify its load 1\.15x/m);

    // Without --rate: two reads 2 s apart while events keep arriving.
    let producing = true;
    let sent = 0;
    const traffic = (async () => {
      while (producing) {
        const more = pipeline.samples(5, 5);
        await pipeline.produce(more.records);
        sent += 5;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const measured = await captureCli('advise', topology, '--metrics', url, '--interval', '2s');
    producing = false;
    await traffic;
    expect(measured.stderr).toBe('');
    expect(measured.code).toBe(0);
    const rate = Number(/^rate λ = (\S+) events\/s \(flowyard_events_in_total over 2s/m.exec(measured.stdout)?.[1]);
    expect(rate * 2).toBeGreaterThan(0);
    expect(rate * 2).toBeLessThanOrEqual(sent);
    expect(Number.isInteger(Math.round(rate * 2 * 1000) / 1000)).toBe(true);

    // Metrics of this process hold no series of another topology: exit 2 saying which it has.
    await writeFile(join(dir, 'other.yaml'), pipeline.yaml.replace(/^name: .*$/m, 'name: other'));
    const other = await captureCli('advise', join(dir, 'other.yaml'), '--metrics', url, '--rate', '5');
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`has no series of topology other (it has series of ${pipeline.plan.name})`);
  } finally {
    await metrics?.close();
    await pipeline.close();
  }
});

test('advise exits 2 naming the flag for bad input', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fy-advise-'));
  const topology = join(dir, 'topology.yaml');
  await writeFile(topology, 'name: t\nsource: { topic: t.events, key: k, id: id }\nmode: cascade\ndestinations:\n  - { name: a, sink: { type: kafka, topic: t.a } }\n');
  await writeFile(join(dir, 'm.txt'), 'flowyard_events_in_total{topology="t",plan="t@1"} 1\n');
  expect(await captureCli('advise', topology)).toMatchObject({ code: 2, stderr: expect.stringContaining("required option '--metrics <url|file>' not specified") });
  expect(await captureCli('advise', topology, '--metrics', join(dir, 'm.txt'))).toMatchObject({ code: 2, stderr: '--rate: a saved /metrics file is one point in time, so it cannot measure a rate; give --rate\n' });
  expect(await captureCli('advise', topology, '--metrics', join(dir, 'm.txt'), '--rate', '-3')).toMatchObject({ code: 2, stderr: '--rate: "-3" is not a rate above 0 (events per second)\n' });
  expect(await captureCli('advise', topology, '--metrics', join(dir, 'm.txt'), '--rate', '3', '--headroom', 'x')).toMatchObject({ code: 2, stderr: '--headroom: "x" is not a number above 0\n' });
  expect(await captureCli('advise', topology, '--metrics', 'http://127.0.0.1:9400/metrics', '--interval', '10')).toMatchObject({ code: 2, stderr: '--interval: "10" is not a duration (e.g. 250ms, 1.5s, 2m)\n' });
});
