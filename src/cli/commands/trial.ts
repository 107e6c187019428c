import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { describeLocation, metricsLocation, readSamples } from '../../measure/source.js';
import { loadTopology } from '../../topology/load.js';
import type { Mode } from '../../topology/plan.js';
import { checkDestinations, parseDuration, parseErrorFlags, parseLatencyFlags, parseOutage, parseSpike } from '../../trial/flags.js';
import { formatMs } from '../../trial/latency.js';
import { destinationModels, renderTrial, runTrial, simDestinations, trialCharts, type TrialSettings } from '../../trial/trial.js';
import { positiveInteger } from '../option-parsers.js';

interface TrialOptions {
  latency: string[];
  errors: string[];
  metrics?: string;
  rate: string;
  duration: string;
  keys: number;
  seed: number;
  hop: string;
  spike?: string;
  outage?: string;
  shapes: string;
  out?: string;
}

const SHAPES: readonly Mode[] = ['cascade', 'fanout', 'dag'];

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `flowyard trial <file>`: a seeded simulation of the topology in each shape. */
export function register(program: Command): void {
  program
    .command('trial')
    .description(
      'Simulate the topology in cascade, fan-out and dag against simulated destinations and compare the shapes. ' +
        'A pure simulation of the plan (no broker, Redis or sink is touched): it models routing hops, concurrency, key order, ' +
        'retries with backoff, circuit breakers, dead letters and compensations, not Kafka itself.',
    )
    .argument('<file>', 'topology YAML file')
    .option('--latency <dest=p50:D[,pNN:D]>', 'latency of a destination: p50 and one of p90/p95/p99/p999 fit a log-normal, p50 alone is fixed; repeatable; `*=` for the rest (e.g. ledger=p50:20ms,p99:80ms)', collect, [])
    .option('--errors <dest=P%>', 'share of failing calls of a destination; repeatable; `*=` for the rest (e.g. notify=2%)', collect, [])
    .option('--metrics <url|file>', 'take latency histograms and error rates from a flowyard /metrics URL, a Prometheus base URL or a saved /metrics file (flags win)')
    .option('--rate <events/s>', 'arrival rate (Poisson)', '100')
    .option('--duration <d>', 'how long events arrive (e.g. 60s, 2m)', '60s')
    .option('--keys <n>', 'distinct causal keys', positiveInteger('--keys'), 100)
    .option('--seed <n>', 'random seed; the same seed gives the same run', positiveInteger('--seed'), 1)
    .option('--hop <d>', 'cost of one hop through a Kafka topic', '2ms')
    .option('--spike <Fx@T+L>', 'multiply the rate by F from T into the run for L (e.g. 3x@20s+5s)')
    .option('--outage <dest@T+L>', 'the destination fails every call from T for L (e.g. ledger@30s+10s); adds the blast radius')
    .option('--shapes <list>', 'shapes to run, comma-separated', 'cascade,fanout,dag')
    .option('--out <dir>', 'where to write latency-cdf.svg and throughput.svg (default trial-<name>)')
    .addHelpText(
      'after',
      '\nThe dag shape follows the topology\'s `after:` lists; a cascade or fanout topology has none, so its dag runs like fan-out.\n' +
        'Latencies and errors come from --latency/--errors, else from --metrics (flowyard_write_duration_seconds, calls vs ok writes).\n' +
        'Example: flowyard trial orders.yaml --latency ledger=p50:20ms,p99:80ms --latency \'*=p50:5ms,p99:30ms\' --errors notify=2% \\\n' +
        '           --rate 200 --duration 60s --spike 3x@20s+5s --outage ledger@30s+10s',
    )
    .action(async (file: string, options: TrialOptions) => {
      const { plan } = await loadTopology(file);
      const names = plan.destinations.map((d) => d.name);
      const rate = Number(options.rate);
      if (!Number.isFinite(rate) || rate <= 0) throw new InvalidInputError(`--rate: ${JSON.stringify(options.rate)} is not a rate above 0 (events per second)`);
      const durationMs = parseDuration('--duration', options.duration);
      if (durationMs <= 0) throw new InvalidInputError('--duration: must be above 0');
      const shapes = options.shapes.split(',').map((s) => s.trim()).filter(Boolean);
      const unknownShapes = shapes.filter((s) => !SHAPES.includes(s as Mode));
      if (shapes.length === 0 || unknownShapes.length > 0) throw new InvalidInputError(`--shapes: ${unknownShapes.length > 0 ? `unknown ${unknownShapes.join(', ')}` : 'empty'}; expected some of ${SHAPES.join(', ')}`);
      const latencyFlags = parseLatencyFlags(options.latency);
      const errorFlags = parseErrorFlags(options.errors);
      checkDestinations('--latency', latencyFlags.keys(), names);
      checkDestinations('--errors', errorFlags.keys(), names);
      const spike = options.spike === undefined ? undefined : parseSpike(options.spike);
      const outage = options.outage === undefined ? undefined : parseOutage(options.outage);
      if (outage !== undefined) checkDestinations('--outage', [outage.destination], names);
      const settings: TrialSettings = {
        shapes: shapes as Mode[],
        rate,
        durationMs,
        keys: options.keys,
        seed: options.seed,
        hopMs: parseDuration('--hop', options.hop),
        ...(spike === undefined ? {} : { spike }),
        ...(outage === undefined ? {} : { outage }),
      };
      let measured;
      if (options.metrics !== undefined) {
        const location = metricsLocation(options.metrics);
        measured = { samples: await readSamples(location), origin: describeLocation(location) };
      }
      const models = destinationModels(plan, latencyFlags, errorFlags, measured);
      const out = process.stdout;
      out.write(`trial ${plan.name} (plan ${plan.id}): simulated, no servers touched; seed ${settings.seed}\n`);
      out.write(`arrivals: ${rate}/s for ${formatMs(durationMs)} over ${settings.keys} keys, hop ${formatMs(settings.hopMs)}`);
      if (spike !== undefined) out.write(`; spike ${spike.factor}x at ${formatMs(spike.atMs)} for ${formatMs(spike.forMs)}`);
      if (outage !== undefined) out.write(`; ${outage.destination} down at ${formatMs(outage.atMs)} for ${formatMs(outage.forMs)}`);
      out.write('\n');
      for (const destination of plan.destinations) {
        const model = models.get(destination.name)!;
        out.write(
          `  ${destination.name}: ${model.latency.describe}; errors ${(model.errorRate * 100).toFixed(2)}% (${model.errorSource}); ` +
            `concurrency ${destination.concurrency}, ordering ${destination.ordering}, timeout ${formatMs(destination.timeoutMs)}, ${destination.retry.maxAttempts} attempts${destination.compensation === undefined ? '' : ', compensates'}\n`,
        );
      }
      out.write('\n');
      const run = runTrial(simDestinations(plan, models), settings);
      out.write(`${renderTrial(run.summaries, settings)}\n`);
      const dir = options.out ?? `trial-${plan.name}`;
      const charts = trialCharts(run, settings);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'latency-cdf.svg'), charts.latencyCdf);
      await writeFile(join(dir, 'throughput.svg'), charts.throughput);
      out.write(`\nplots: ${join(dir, 'latency-cdf.svg')}, ${join(dir, 'throughput.svg')}\n`);
    });
}
