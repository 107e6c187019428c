/**
 * `flowyard trial`: the topology's destinations, with latency and error models, simulated
 * in each shape (see simulate.ts for what the model covers), summarised and plotted.
 */
import { InvalidInputError } from '../errors.js';
import { histogramOf } from '../measure/histogram.js';
import { sum, type Sample } from '../measure/prom-text.js';
import type { Mode, Plan } from '../topology/plan.js';
import { formatMs, fromHistogram, logNormal, type LatencyModel } from './latency.js';
import type { LatencyFlag } from './flags.js';
import { simulate, type SimDestination, type SimOptions, type SimResult, type Window } from './simulate.js';
import { completedLatencies, summarise, throughputSeries, type ShapeSummary } from './summary.js';
import { lineChart } from './svg.js';

/** Bounds a run's memory and time: ~100 bytes per event and destination. */
export const MAX_EVENTS = 2_000_000;
/** Simulated time the backlog may take to drain after the last arrival. */
export const DRAIN_MS = 600_000;

export interface TrialSettings {
  readonly shapes: readonly Mode[];
  readonly rate: number;
  readonly durationMs: number;
  readonly keys: number;
  readonly seed: number;
  readonly hopMs: number;
  readonly spike?: Window & { readonly factor: number };
  readonly outage?: Window & { readonly destination: string };
}

export interface DestinationModel {
  readonly latency: LatencyModel;
  readonly errorRate: number;
  readonly errorSource: string;
}

/**
 * Latency and error rate per destination: flags first (a destination's own, then `*`),
 * else the measured samples, else an InvalidInputError saying what to give.
 */
export function destinationModels(plan: Plan, latencyFlags: ReadonlyMap<string, LatencyFlag>, errorFlags: ReadonlyMap<string, number>, measured?: { samples: readonly Sample[]; origin: string }): Map<string, DestinationModel> {
  const models = new Map<string, DestinationModel>();
  const missing: string[] = [];
  for (const destination of plan.destinations) {
    const match = measuredLabels(plan, destination.name, measured?.samples);
    const flag = latencyFlags.get(destination.name) ?? latencyFlags.get('*');
    const histogram = measured === undefined ? undefined : histogramOf(measured.samples, 'flowyard_write_duration_seconds', match);
    let latency: LatencyModel | undefined;
    if (flag !== undefined) latency = logNormal(flag.p50Ms, flag.tail);
    else if (histogram !== undefined) latency = fromHistogram(histogram, measured!.origin);
    if (latency === undefined) {
      missing.push(destination.name);
      continue;
    }
    const errorFlag = errorFlags.get(destination.name) ?? errorFlags.get('*');
    let errorRate = 0;
    let errorSource = 'none given';
    if (errorFlag !== undefined) {
      errorRate = errorFlag;
      errorSource = 'flag';
    } else if (measured !== undefined) {
      const calls = sum(measured.samples, 'flowyard_destination_calls_total', match);
      const ok = sum(measured.samples, 'flowyard_writes_total', { ...match, outcome: 'ok' });
      if (calls > 0) {
        errorRate = Math.max(0, (calls - ok) / calls);
        errorSource = `measured, ${calls} calls`;
      }
    }
    models.set(destination.name, { latency, errorRate, errorSource });
  }
  if (missing.length > 0) {
    const where = measured === undefined ? '' : ` (${measured.origin} has no flowyard_write_duration_seconds for ${missing.length === 1 ? 'it' : 'them'})`;
    throw new InvalidInputError(`--latency: no latency for ${missing.join(', ')}${where}; give --latency ${missing[0]}=p50:20ms,p99:80ms, --latency '*=...' or --metrics`);
  }
  return models;
}

/** Labels selecting a destination's series; `topology` too when the samples carry it. */
function measuredLabels(plan: Plan, destination: string, samples: readonly Sample[] | undefined): Record<string, string> {
  const carriesTopology = samples?.some((s) => s.name === 'flowyard_write_duration_seconds_count' && s.labels.topology === plan.name) ?? false;
  return carriesTopology ? { topology: plan.name, destination } : { destination };
}

export function simDestinations(plan: Plan, models: ReadonlyMap<string, DestinationModel>): SimDestination[] {
  return plan.destinations.map((destination) => {
    const model = models.get(destination.name)!;
    return {
      name: destination.name,
      // The dag shape follows the topology's `after:`; a cascade or fanout topology has none, so its dag is a fan-out.
      after: plan.mode === 'dag' ? destination.after : [],
      latency: model.latency,
      errorRate: model.errorRate,
      timeoutMs: destination.timeoutMs,
      retry: destination.retry,
      concurrency: destination.concurrency,
      ordering: destination.ordering,
      circuitBreaker: destination.circuitBreaker,
      compensates: destination.compensation !== undefined,
    };
  });
}

export interface TrialRun {
  readonly summaries: ShapeSummary[];
  readonly results: SimResult[];
}

export function runTrial(destinations: readonly SimDestination[], settings: TrialSettings): TrialRun {
  const expected = settings.rate * (settings.durationMs / 1000) * (settings.spike === undefined ? 1 : Math.max(1, settings.spike.factor));
  if (expected > MAX_EVENTS) throw new InvalidInputError(`--rate/--duration: about ${Math.round(expected)} events; a trial simulates at most ${MAX_EVENTS}`);
  const slack = new Map(destinations.map((d) => [d.name, d.latency.quantile(0.99)]));
  const summaries: ShapeSummary[] = [];
  const results: SimResult[] = [];
  for (const shape of settings.shapes) {
    const options: SimOptions = {
      shape,
      destinations,
      rate: settings.rate,
      durationMs: settings.durationMs,
      keys: settings.keys,
      seed: settings.seed,
      hopMs: settings.hopMs,
      drainMs: DRAIN_MS,
      ...(settings.spike === undefined ? {} : { spike: settings.spike }),
      ...(settings.outage === undefined ? {} : { outage: settings.outage }),
    };
    const result = simulate(options);
    const { outage: _outage, ...withoutOutage } = options;
    const baseline = settings.outage === undefined ? undefined : simulate(withoutOutage);
    results.push(result);
    summaries.push(summarise(result, baseline, (name) => slack.get(name) ?? 0));
  }
  return { summaries, results };
}

/** The printed report: one table for all shapes, then the blast radius per shape. */
export function renderTrial(summaries: readonly ShapeSummary[], settings: TrialSettings): string {
  const lines: string[] = [];
  const at = (ms: number): string => (Number.isNaN(ms) ? 'none' : `${(ms / 1000).toFixed(1)}s`);
  lines.push(table(
    ['shape', 'events', 'completed', 'failed', 'throughput', 'p50', 'p95', 'p99', 'first failure', 'first DLQ', 'compensations'],
    summaries.map((s) => [
      s.shape,
      String(s.events),
      String(s.completed),
      String(s.failed) + (s.undecided > 0 ? ` (+${s.undecided} undecided)` : ''),
      `${s.throughput.toFixed(1)}/s`,
      formatMs(s.p50),
      formatMs(s.p95),
      formatMs(s.p99),
      at(s.firstFailureAt),
      at(s.firstDeadLetterAt),
      String(s.compensations),
    ]),
  ));
  if (settings.outage !== undefined) {
    const { destination, atMs, forMs } = settings.outage;
    lines.push('');
    lines.push(`blast radius of ${destination} down ${at(atMs)}..${at(atMs + forMs)}, against the same run without the outage`);
    lines.push('(delayed: written later than without it by more than that destination\'s p99; failed: never written; dead-lettered: extra dead letters there)');
    lines.push(table(
      ['shape', 'destination', 'delayed', 'failed', 'dead-lettered'],
      summaries.flatMap((s) => (s.blast ?? []).map((b) => [s.shape, b.destination, String(b.delayed), String(b.failed), String(b.deadLettered)])),
    ));
  }
  return lines.join('\n');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The two plots: latency CDF per shape, throughput over time per shape. */
export function trialCharts(run: TrialRun, settings: TrialSettings): { latencyCdf: string; throughput: string } {
  const bands = [
    ...(settings.spike === undefined ? [] : [{ from: settings.spike.atMs / 1000, to: (settings.spike.atMs + settings.spike.forMs) / 1000, label: `spike ${settings.spike.factor}x` }]),
    ...(settings.outage === undefined ? [] : [{ from: settings.outage.atMs / 1000, to: (settings.outage.atMs + settings.outage.forMs) / 1000, label: `${settings.outage.destination} down` }]),
  ];
  const latencyCdf = lineChart({
    title: 'End-to-end latency CDF per shape (completed events)',
    xLabel: 'latency (ms, log scale)',
    yLabel: 'share of events',
    logX: true,
    series: run.results.map((result) => ({ label: result.shape, points: cdfPoints(completedLatencies(result)) })),
  });
  const throughput = lineChart({
    title: 'Events decided per second',
    xLabel: 'simulated time (s)',
    yLabel: 'events/s',
    bands,
    series: run.results.map((result) => ({ label: result.shape, points: throughputSeries(result).map((value, second) => [second, value] as const) })),
  });
  return { latencyCdf, throughput };
}

/** At most ~200 points of the empirical CDF of ascending `sorted`. */
function cdfPoints(sorted: Float64Array): [number, number][] {
  const points: [number, number][] = [];
  const step = Math.max(1, Math.floor(sorted.length / 200));
  for (let i = 0; i < sorted.length; i += step) points.push([sorted[i]!, (i + 1) / sorted.length]);
  if (sorted.length > 0) points.push([sorted[sorted.length - 1]!, 1]);
  return points;
}
