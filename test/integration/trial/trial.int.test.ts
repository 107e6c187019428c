/**
 * `flowyard trial --metrics` on numbers measured by a real run: a fan-out on the real broker
 * and Redis whose destination c fails some calls. The trial takes each destination's
 * latency histogram and error rate from the running process's /metrics (and from a saved
 * copy of it, giving the same simulation), prints a row per shape and writes both plots.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sum, type Sample } from '../../../src/measure/prom-text.js';
import { captureCli } from '../../helpers/cli.js';
import { failAtC, fanoutToABC, serveMetrics, type MetricsEndpoint } from '../../helpers/metrics.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';

test('trial reads latency histograms and error rates from a real /metrics and from a saved copy, and simulates the same', async () => {
  const pipeline = await TestPipeline.create(fanoutToABC());
  let metrics: MetricsEndpoint | undefined;
  const dir = await mkdtemp(join(tmpdir(), 'fy-trial-'));
  try {
    const { records, eventIds } = pipeline.samples(80, 8);
    failAtC(pipeline, new Set(eventIds.slice(0, 8))); // c fails their first call: 8 failed calls of 88
    await pipeline.start(['router', 'worker', 'tracker']);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.outcomes.length === eventIds.length, 120_000, 200)).toBe(true);
    metrics = await serveMetrics(pipeline.shared.registry);
    const { url } = metrics;
    // The workers observe a write's duration before its completion is read back; wait for every one.
    const writes = (samples: readonly Sample[], destination: string): number => sum(samples, 'flowyard_write_duration_seconds_count', { destination });
    expect(
      await eventually(async () => {
        const samples = await metrics!.samples();
        return writes(samples, 'c') === 88 && writes(samples, 'a') === 80;
      }, 30_000),
    ).toBe(true);

    const topology = join(dir, 'topology.yaml');
    await writeFile(topology, pipeline.yaml);
    const args = ['--rate', '50', '--duration', '4s', '--seed', '3', '--outage', 'c@1s+1s', '--spike', '2x@2s+1s'];
    const live = await captureCli('trial', topology, '--metrics', url, ...args, '--out', join(dir, 'live'));
    expect(live.stderr).toBe('');
    expect(live.code).toBe(0);
    const modelLine = (out: string, destination: string): string => out.split('\n').find((l) => l.startsWith(`  ${destination}: `))!;
    expect(modelLine(live.stdout, 'a')).toMatch(/^ {2}a: measured \(scrape of http:\/\/127\.0\.0\.1:\d+\/metrics\): p50 \S+ p99 \S+, 80 writes; errors 0\.00% \(measured, 80 calls\)/);
    expect(modelLine(live.stdout, 'c')).toMatch(/, 88 writes; errors 9\.09% \(measured, 88 calls\)/);
    for (const shape of ['cascade', 'fanout', 'dag']) expect(live.stdout).toMatch(new RegExp(`^${shape} +\\d+ +\\d+`, 'm'));
    expect(live.stdout).toMatch(/^fanout +c +\d+ +\d+ +\d+$/m);
    const cdf = await readFile(join(dir, 'live', 'latency-cdf.svg'), 'utf8');
    expect(cdf.match(/<polyline/g)).toHaveLength(3);
    expect(await readFile(join(dir, 'live', 'throughput.svg'), 'utf8')).toContain('c down');

    // A saved scrape gives the same models, hence the same simulated run.
    const saved = join(dir, 'metrics.txt');
    await writeFile(saved, await metrics.text());
    const fromFile = await captureCli('trial', topology, '--metrics', saved, ...args, '--out', join(dir, 'file'));
    expect(fromFile.code).toBe(0);
    const results = (out: string): string => out.slice(out.indexOf('\nshape'), out.indexOf('\nplots:'));
    expect(results(fromFile.stdout)).toBe(results(live.stdout));
  } finally {
    await metrics?.close();
    await pipeline.close();
  }
});

test('trial exits 2 naming the flag for bad input, 1 when the metrics endpoint does not answer', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fy-trial-'));
  const topology = join(dir, 'topology.yaml');
  await writeFile(topology, 'name: t\nsource: { topic: t.events, key: k, id: id }\nmode: cascade\ndestinations:\n  - { name: a, sink: { type: kafka, topic: t.a } }\n');
  const bad = async (...argv: string[]) => captureCli('trial', topology, '--out', dir, ...argv);
  expect(await bad('--latency', 'a=p50:20')).toMatchObject({ code: 2, stderr: '--latency: "20" is not a duration (e.g. 250ms, 1.5s, 2m)\n' });
  expect(await bad('--latency', 'b=p50:20ms')).toMatchObject({ code: 2, stderr: '--latency: the topology has no destination "b" (it has a)\n' });
  expect(await bad()).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--latency: no latency for a; give --latency a=p50:20ms,p99:80ms/) });
  expect(await bad('--latency', 'a=p50:5ms', '--rate', 'fast')).toMatchObject({ code: 2, stderr: '--rate: "fast" is not a rate above 0 (events per second)\n' });
  expect(await bad('--latency', 'a=p50:5ms', '--shapes', 'chain')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--shapes: unknown chain/) });
  expect(await bad('--latency', 'a=p50:5ms', '--metrics', join(dir, 'none.txt'))).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--metrics: cannot read .*none\.txt: no such file/) });
  // A port nothing listens on: the endpoint is a runtime failure, not bad input.
  const closed = await captureCli('trial', topology, '--out', dir, '--metrics', 'http://127.0.0.1:1/metrics');
  expect(closed.code).toBe(1);
  expect(closed.stderr).toMatch(/^flowyard: --metrics: cannot read http:\/\/127\.0\.0\.1:1\/metrics/);
});
