import type { Command } from 'commander';
import { advise } from '../../advise/advise.js';
import { measure } from '../../advise/measurements.js';
import { renderAdvice } from '../../advise/render.js';
import { InvalidInputError } from '../../errors.js';
import { describeLocation, metricsLocation, readSamples } from '../../measure/source.js';
import { sleep } from '../../resilience/abort.js';
import type { Sample } from '../../measure/prom-text.js';
import { loadTopology } from '../../topology/load.js';
import { parseDuration } from '../../trial/flags.js';

interface AdviseOptions {
  metrics: string;
  rate?: string;
  interval: string;
  headroom: string;
}

/** `flowyard advise <file> --metrics <url>`: the plan plus live histograms -> numbers and a recommendation per destination. */
export function register(program: Command): void {
  program
    .command('advise')
    .description('Read live histograms and counters of a running topology and recommend shape, concurrency and ordering per destination, with the numbers behind each (critical path, Amdahl bound, Little\'s law, retry amplification, branch spread)')
    .argument('<file>', 'topology YAML file (the plan the metrics belong to)')
    .requiredOption('--metrics <url|file>', 'a flowyard /metrics URL, a Prometheus base URL (summing every replica), or a saved /metrics file')
    .option('--rate <events/s>', 'arrival rate to size for; without it the rate is measured between two reads --interval apart')
    .option('--interval <d>', 'time between the two reads that measure the rate (and the window the numbers cover)', '10s')
    .option('--headroom <x>', 'multiplies the Little\'s-law concurrency at p99 latency', '1')
    .addHelpText(
      'after',
      '\nWith --rate, latencies and counters are everything the metrics hold (since the processes started); without it, what happened between the two reads.\n' +
        'Example: flowyard advise topologies/orders-fanout.yaml --metrics http://127.0.0.1:9400/metrics --interval 30s',
    )
    .action(async (file: string, options: AdviseOptions) => {
      const { plan } = await loadTopology(file);
      const location = metricsLocation(options.metrics);
      const headroom = Number(options.headroom);
      if (!Number.isFinite(headroom) || headroom <= 0) throw new InvalidInputError(`--headroom: ${JSON.stringify(options.headroom)} is not a number above 0`);
      let rate: number | undefined;
      if (options.rate !== undefined) {
        rate = Number(options.rate);
        if (!Number.isFinite(rate) || rate <= 0) throw new InvalidInputError(`--rate: ${JSON.stringify(options.rate)} is not a rate above 0 (events per second)`);
      }
      const intervalMs = parseDuration('--interval', options.interval);
      if (rate === undefined && location.kind === 'file') throw new InvalidInputError('--rate: a saved /metrics file is one point in time, so it cannot measure a rate; give --rate');
      if (rate === undefined && intervalMs <= 0) throw new InvalidInputError('--interval: must be above 0 to measure a rate');
      const first = await readSamples(location);
      checkTopology(first, plan.name, describeLocation(location));
      let measurements;
      if (rate !== undefined) {
        measurements = { ...measure(plan, first), rate, rateSource: 'from --rate; latencies and counts since the processes started' };
      } else {
        await sleep(intervalMs);
        const second = await readSamples(location);
        const measured = measure(plan, second, { samples: first, intervalS: intervalMs / 1000 });
        if (measured.measuredRate === undefined) {
          throw new InvalidInputError(`--rate: no events reached the router of ${plan.name} in the ${options.interval} between two reads of ${describeLocation(location)}; give --rate or a longer --interval`);
        }
        measurements = { ...measured, rate: measured.measuredRate, rateSource: `flowyard_events_in_total over ${options.interval}; numbers cover that window` };
      }
      process.stdout.write(`${renderAdvice(advise(plan, measurements, headroom), describeLocation(location))}\n`);
    });
}

/** Metrics of another topology (or none) would give advice of zeros; say so instead. */
function checkTopology(samples: readonly Sample[], name: string, origin: string): void {
  const topologies = new Set(samples.filter((s) => s.name.startsWith('flowyard_') && s.labels.topology !== undefined).map((s) => s.labels.topology!));
  if (!topologies.has(name)) {
    const known = topologies.size === 0 ? 'no flowyard series at all' : `series of ${[...topologies].sort().join(', ')}`;
    throw new InvalidInputError(`--metrics: ${origin} has no series of topology ${name} (it has ${known})`);
  }
}
