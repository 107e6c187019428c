/**
 * What `flowyard advise` reads from flowyard's own series (src/observability/metrics.ts),
 * per destination of one topology, summed over its plans and replicas. Pure: samples in,
 * numbers out.
 */
import { difference, histogramOf, type BucketHistogram } from '../measure/histogram.js';
import { sum, type Sample } from '../measure/prom-text.js';
import type { Plan } from '../topology/plan.js';

export interface DestinationMeasurement {
  readonly name: string;
  /** flowyard_write_duration_seconds: one write attempt. */
  readonly writes?: BucketHistogram;
  /** flowyard_destination_calls_total, retries included. */
  readonly calls: number;
  /** flowyard_writes_total{outcome="ok"}. */
  readonly ok: number;
  /** flowyard_writes_total{outcome="dead_letter"}. */
  readonly deadLettered: number;
}

export interface Measurements {
  /** Events per second into the router. */
  readonly rate: number;
  readonly rateSource: string;
  readonly destinations: readonly DestinationMeasurement[];
  readonly endToEnd?: BucketHistogram;
  readonly branchSpread?: BucketHistogram;
}

/**
 * The measurements of `plan`'s topology in `latest`; with `earlier` (a scrape `intervalS`
 * before), counters and histograms are the difference, i.e. what happened in between.
 */
export function measure(plan: Plan, latest: readonly Sample[], earlier?: { readonly samples: readonly Sample[]; readonly intervalS: number }): Omit<Measurements, 'rate' | 'rateSource'> & { readonly measuredRate?: number } {
  const topology = { topology: plan.name };
  const counter = (name: string, labels: Record<string, string>): number => {
    const now = sum(latest, name, { ...topology, ...labels });
    return earlier === undefined ? now : now - sum(earlier.samples, name, { ...topology, ...labels });
  };
  const histogram = (name: string, labels: Record<string, string>): BucketHistogram | undefined => {
    const now = histogramOf(latest, name, { ...topology, ...labels });
    if (now === undefined) return undefined;
    return earlier === undefined ? now : difference(now, histogramOf(earlier.samples, name, { ...topology, ...labels }));
  };
  const eventsIn = counter('flowyard_events_in_total', {});
  const end = histogram('flowyard_end_to_end_latency_seconds', {});
  const spread = histogram('flowyard_branch_spread_seconds', {});
  return {
    ...(earlier !== undefined && eventsIn > 0 ? { measuredRate: eventsIn / earlier.intervalS } : {}),
    destinations: plan.destinations.map((destination) => {
      const labels = { destination: destination.name };
      const writes = histogram('flowyard_write_duration_seconds', labels);
      return {
        name: destination.name,
        ...(writes === undefined ? {} : { writes }),
        calls: counter('flowyard_destination_calls_total', labels),
        ok: counter('flowyard_writes_total', { ...labels, outcome: 'ok' }),
        deadLettered: counter('flowyard_writes_total', { ...labels, outcome: 'dead_letter' }),
      };
    }),
    ...(end === undefined ? {} : { endToEnd: end }),
    ...(spread === undefined ? {} : { branchSpread: spread }),
  };
}
