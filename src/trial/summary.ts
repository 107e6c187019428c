/**
 * What `flowyard trial` prints per shape, computed from simulation results: throughput,
 * end-to-end percentiles, when errors start, the blast radius of the outage (compared with
 * the same seeded run without it), compensations.
 */
import type { Mode } from '../topology/plan.js';
import type { SimResult } from './simulate.js';

export interface ShapeSummary {
  readonly shape: Mode;
  readonly events: number;
  readonly completed: number;
  readonly failed: number;
  /** Events the drain bound cut off. */
  readonly undecided: number;
  /** Decided events per second, from the first arrival to the last decision. */
  readonly throughput: number;
  /** End-to-end latency of completed events, ms. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** First failed attempt / first dead letter anywhere, ms into the run; NaN if none. */
  readonly firstFailureAt: number;
  readonly firstDeadLetterAt: number;
  readonly compensations: number;
  readonly blast?: readonly BlastRadius[];
}

/** Per destination: what the outage did, event by event, against the run without it. */
export interface BlastRadius {
  readonly destination: string;
  /** Written ok in both runs, but later than without the outage by more than `slackMs`. */
  readonly delayed: number;
  /** Written ok without the outage, never with it (dead-lettered here or upstream). */
  readonly failed: number;
  /** Dead letters at this destination beyond those of the run without the outage. */
  readonly deadLettered: number;
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Sorted end-to-end latencies (ms) of the completed events. */
export function completedLatencies(result: SimResult): Float64Array {
  const values: number[] = [];
  for (let i = 0; i < result.status.length; i += 1) if (result.status[i] === 1) values.push(result.decidedAt[i]! - result.arrivals[i]!);
  return Float64Array.from(values).sort();
}

export function summarise(result: SimResult, baseline?: SimResult, slackMs: (destination: string) => number = () => 0): ShapeSummary {
  const latencies = completedLatencies(result);
  let completed = 0;
  let failed = 0;
  let lastDecision = 0;
  for (let i = 0; i < result.status.length; i += 1) {
    if (result.status[i] === 1) completed += 1;
    else if (result.status[i] === 2) failed += 1;
    if (result.status[i] !== 0) lastDecision = Math.max(lastDecision, result.decidedAt[i]!);
  }
  const events = result.status.length;
  const span = lastDecision - (result.arrivals[0] ?? 0);
  return {
    shape: result.shape,
    events,
    completed,
    failed,
    undecided: events - completed - failed,
    throughput: span > 0 ? ((completed + failed) / span) * 1000 : 0,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    firstFailureAt: minDefined(result.destinations.map((d) => d.firstFailureAt)),
    firstDeadLetterAt: minDefined(result.destinations.map((d) => d.firstDeadLetterAt)),
    compensations: result.destinations.reduce((sum, d) => sum + d.compensations, 0),
    ...(baseline === undefined ? {} : { blast: blastRadius(result, baseline, slackMs) }),
  };
}

function minDefined(values: readonly number[]): number {
  let min = Number.NaN;
  for (const value of values) if (!Number.isNaN(value) && (Number.isNaN(min) || value < min)) min = value;
  return min;
}

/** Compares a run with the outage against the same seeded run without it. */
export function blastRadius(withOutage: SimResult, without: SimResult, slackMs: (destination: string) => number): BlastRadius[] {
  return withOutage.destinations.map((destination, d) => {
    const base = without.destinations[d]!;
    const slack = slackMs(destination.name);
    let delayed = 0;
    let failed = 0;
    for (let event = 0; event < destination.okAt.length; event += 1) {
      const before = base.okAt[event]!;
      const after = destination.okAt[event]!;
      if (Number.isNaN(before)) continue;
      if (Number.isNaN(after)) failed += 1;
      else if (after - before > slack) delayed += 1;
    }
    return { destination: destination.name, delayed, failed, deadLettered: Math.max(0, destination.deadLettered - base.deadLettered) };
  });
}

/** Decided events per whole second of simulated time, for the throughput plot. */
export function throughputSeries(result: SimResult): number[] {
  const perSecond: number[] = [];
  for (let i = 0; i < result.status.length; i += 1) {
    if (result.status[i] === 0) continue;
    const second = Math.floor(result.decidedAt[i]! / 1000);
    while (perSecond.length <= second) perSecond.push(0);
    perSecond[second]! += 1;
  }
  return perSecond;
}
