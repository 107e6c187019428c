/**
 * The arithmetic of `flowyard advise`, pure and unit-tested:
 *
 * - retry amplification A = calls / events decided (ok + dead-lettered);
 * - a destination's cost per event w = A x mean attempt latency (what it adds to a path);
 * - critical path: cascade = sum of w in list order, fan-out = the largest w, dag = the
 *   longest path through `after`;
 * - Amdahl: going parallel cannot beat T1 / T_critical, where T1 is the cascade's sum and
 *   the critical path is the part that stays serial (the slowest destination in fan-out);
 * - Little's law: writes in flight L = lambda x A x W (mean, and at p99 latency for sizing);
 * - branch spread (fastest vs slowest destination per event) from the tracker's histogram.
 */
import { mean, quantile } from '../measure/histogram.js';
import type { Mode, Plan } from '../topology/plan.js';
import type { DestinationMeasurement, Measurements } from './measurements.js';

/** Amdahl bounds below this gain too little to pay for fan-out's coordination (spread, compensation, sequencer). */
export const WORTH_PARALLEL = 1.25;
/** A destination using this share of its concurrency is close to queueing. */
export const BUSY_SHARE = 0.8;
/** A failure share per call above this makes a destination's retries a cost for whoever waits on it. */
export const FLAKY_SHARE = 0.01;

export interface DestinationFigures {
  readonly name: string;
  readonly measured: boolean;
  readonly amplification: number;
  readonly failureShare: number;
  readonly deadLettered: number;
  /** Attempt latency, seconds. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly meanLatency: number;
  /** A x mean: what this destination adds to a path, seconds. */
  readonly costPerEvent: number;
  /** Little's law: lambda x A x mean latency. */
  readonly inFlight: number;
  /** lambda x A x p99 latency: slots that cover the tail. */
  readonly inFlightAtP99: number;
  readonly concurrency: number;
  readonly ordering: Plan['destinations'][number]['ordering'];
  readonly after: readonly string[];
}

export interface PathFigures {
  readonly cascade: number;
  readonly fanout: number;
  /** Undefined when the plan is not a dag (no `after:` to follow). */
  readonly dag?: number;
  /** The destinations on the current mode's critical path, in order. */
  readonly critical: readonly string[];
  readonly criticalSeconds: number;
  /** T1 / T_critical of the current mode's graph: the most going parallel can gain. */
  readonly amdahlBound: number;
  /** T_critical / T1. */
  readonly serialFraction: number;
}

export interface Recommendation {
  readonly destination: string;
  readonly shape: string;
  readonly concurrency: { readonly value: number; readonly change: 'keep' | 'raise' | 'lower' };
  readonly ordering: string;
  readonly because: readonly string[];
}

export interface Advice {
  readonly plan: Plan;
  readonly rate: number;
  readonly rateSource: string;
  readonly destinations: readonly DestinationFigures[];
  readonly paths: PathFigures;
  readonly endToEnd?: { readonly p50: number; readonly p99: number; readonly mean: number; readonly count: number };
  readonly branchSpread?: { readonly p50: number; readonly p99: number; readonly count: number };
  readonly shape: { readonly recommended: Mode | 'keep'; readonly because: string };
  readonly recommendations: readonly Recommendation[];
  readonly unmeasured: readonly string[];
}

export function figuresOf(destination: Plan['destinations'][number], measured: DestinationMeasurement, rate: number): DestinationFigures {
  const decided = measured.ok + measured.deadLettered;
  const amplification = decided > 0 ? measured.calls / decided : 1;
  const failureShare = measured.calls > 0 ? Math.max(0, (measured.calls - measured.ok) / measured.calls) : 0;
  const writes = measured.writes;
  const at = (q: number): number => (writes === undefined ? 0 : quantile(writes, q));
  const meanLatency = writes === undefined ? 0 : mean(writes);
  return {
    name: destination.name,
    measured: writes !== undefined,
    amplification,
    failureShare,
    deadLettered: measured.deadLettered,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    meanLatency,
    costPerEvent: amplification * meanLatency,
    inFlight: rate * amplification * meanLatency,
    inFlightAtP99: rate * amplification * at(0.99),
    concurrency: destination.concurrency,
    ordering: destination.ordering,
    after: destination.after,
  };
}

/** Longest path (by cost) through `after`, and the destinations on it. */
export function longestPath(figures: readonly DestinationFigures[]): { seconds: number; path: string[] } {
  const byName = new Map(figures.map((f) => [f.name, f]));
  const memo = new Map<string, { seconds: number; path: string[] }>();
  const to = (name: string): { seconds: number; path: string[] } => {
    const cached = memo.get(name);
    if (cached !== undefined) return cached;
    const own = byName.get(name)!;
    let best = { seconds: 0, path: [] as string[] };
    for (const parent of own.after) {
      const candidate = to(parent);
      if (candidate.seconds > best.seconds || best.path.length === 0) best = candidate;
    }
    const result = { seconds: best.seconds + own.costPerEvent, path: [...best.path, name] };
    memo.set(name, result);
    return result;
  };
  let best = { seconds: 0, path: [] as string[] };
  for (const f of figures) {
    const candidate = to(f.name);
    if (candidate.seconds > best.seconds || best.path.length === 0) best = candidate;
  }
  return best;
}

export function pathFigures(mode: Mode, figures: readonly DestinationFigures[]): PathFigures {
  const cascade = figures.reduce((total, f) => total + f.costPerEvent, 0);
  const slowest = figures.reduce((a, b) => (b.costPerEvent > a.costPerEvent ? b : a), figures[0]!);
  const dag = mode === 'dag' ? longestPath(figures) : undefined;
  // The parallel graph the topology can have: its own `after:` in dag mode, else every destination a branch.
  const critical = dag ?? { seconds: slowest.costPerEvent, path: [slowest.name] };
  return {
    cascade,
    fanout: slowest.costPerEvent,
    ...(dag === undefined ? {} : { dag: dag.seconds }),
    critical: mode === 'cascade' ? figures.map((f) => f.name) : critical.path,
    criticalSeconds: mode === 'cascade' ? cascade : critical.seconds,
    amdahlBound: critical.seconds > 0 ? cascade / critical.seconds : 1,
    serialFraction: cascade > 0 ? critical.seconds / cascade : 1,
  };
}

/** Advice for `plan` from `measurements`. `headroom` multiplies the p99 Little's-law figure for sizing. */
export function advise(plan: Plan, measurements: Measurements, headroom = 1): Advice {
  const destinations = plan.destinations.map((destination, index) => figuresOf(destination, measurements.destinations[index]!, measurements.rate));
  const paths = pathFigures(plan.mode, destinations);
  const e2e = measurements.endToEnd;
  const spread = measurements.branchSpread;
  const shape = shapeAdvice(plan.mode, paths, spread === undefined ? undefined : quantile(spread, 0.99));
  return {
    plan,
    rate: measurements.rate,
    rateSource: measurements.rateSource,
    destinations,
    paths,
    ...(e2e === undefined ? {} : { endToEnd: { p50: quantile(e2e, 0.5), p99: quantile(e2e, 0.99), mean: mean(e2e), count: e2e.count } }),
    ...(spread === undefined ? {} : { branchSpread: { p50: quantile(spread, 0.5), p99: quantile(spread, 0.99), count: spread.count } }),
    shape,
    recommendations: destinations.map((figures, index) => recommend(plan, figures, index, destinations, paths, headroom)),
    unmeasured: destinations.filter((f) => !f.measured).map((f) => f.name),
  };
}

function shapeAdvice(mode: Mode, paths: PathFigures, spreadP99: number | undefined): Advice['shape'] {
  const bound = paths.amdahlBound;
  const saved = paths.cascade - paths.criticalSeconds;
  if (bound >= WORTH_PARALLEL) {
    if (mode === 'cascade') {
      return { recommended: 'fanout', because: `going parallel can cut the path from ${ms(paths.cascade)} to ${ms(paths.criticalSeconds)} (Amdahl bound ${bound.toFixed(2)}x); keep in a chain (dag after:) only the steps that need an earlier write` };
    }
    const spread = spreadP99 === undefined ? '' : `; the price is a branch spread of ${ms(spreadP99)} at p99`;
    return { recommended: 'keep', because: `parallel saves ${ms(saved)} per event against a cascade (bound ${bound.toFixed(2)}x)${spread}` };
  }
  if (mode === 'cascade') return { recommended: 'keep', because: `going parallel gains at most ${bound.toFixed(2)}x (${ms(saved)} per event): one destination dominates the path; cascade keeps strict order without compensation or a sequencer` };
  return { recommended: 'cascade', because: `parallel gains only ${bound.toFixed(2)}x (${ms(saved)} per event) over a cascade, which gives strict order and simpler failure handling` };
}

function recommend(plan: Plan, f: DestinationFigures, index: number, all: readonly DestinationFigures[], paths: PathFigures, headroom: number): Recommendation {
  const because: string[] = [];
  // Shape: what waiting on this destination, or this destination waiting, costs.
  let shape = 'keep its place';
  const waitsFor = plan.mode === 'cascade' ? all.slice(0, index).reduce((t, d) => t + d.costPerEvent, 0) : 0;
  const descendants = plan.mode === 'cascade' ? all.length - index - 1 : plan.destinations.filter((d) => d.after.includes(f.name)).length;
  if (plan.mode === 'cascade' && index > 0 && paths.cascade > 0 && waitsFor / paths.cascade >= 0.25) {
    shape = 'parallel branch (fanout, or a dag root) unless it needs an earlier write';
    because.push(`in cascade it waits ${ms(waitsFor)} for ${all.slice(0, index).map((d) => d.name).join(', ')} on every event`);
  }
  if (f.failureShare >= FLAKY_SHARE && descendants > 0) {
    shape = plan.mode === 'cascade' ? 'last in the chain or a parallel branch' : 'a leaf (nothing after it)';
    because.push(`${pct(f.failureShare)} of its calls fail (${f.amplification.toFixed(2)} calls per event); the ${descendants} destination(s) after it wait on its retries`);
  } else if (f.amplification > 1.05) {
    because.push(`retries amplify its load ${f.amplification.toFixed(2)}x (${pct(f.failureShare)} of calls fail)`);
  }
  if (paths.critical.includes(f.name) && plan.mode !== 'cascade') because.push(`it is on the critical path (${paths.critical.join(' -> ')}): only making it faster shortens the events`);

  // Concurrency: Little's law at p99 latency, with headroom.
  const wanted = Math.max(1, Math.ceil(f.inFlightAtP99 * headroom));
  let concurrency: Recommendation['concurrency'];
  if (!f.measured) concurrency = { value: f.concurrency, change: 'keep' };
  else if (f.inFlightAtP99 * headroom > f.concurrency) {
    concurrency = { value: wanted, change: 'raise' };
    because.push(`L = λ·A·W: ${f.inFlight.toFixed(1)} writes in flight on average, ${f.inFlightAtP99.toFixed(1)} at p99 latency; ${f.concurrency} slots queue the tail`);
  } else if (f.inFlightAtP99 * headroom * 4 < f.concurrency && f.concurrency > 4) {
    concurrency = { value: Math.max(4, wanted * 2), change: 'lower' };
    because.push(`L = λ·A·W: ${f.inFlightAtP99.toFixed(1)} in flight at p99 latency use ${pct(f.inFlightAtP99 / f.concurrency)} of ${f.concurrency} slots; fewer bounds the burst a recovering destination gets`);
  } else {
    concurrency = { value: f.concurrency, change: 'keep' };
    because.push(`L = λ·A·W: ${f.inFlight.toFixed(1)} in flight on average, ${f.inFlightAtP99.toFixed(1)} at p99 latency, within ${f.concurrency} slots`);
  }

  // Ordering.
  let ordering: string = f.ordering;
  if (f.ordering === 'key' && f.inFlightAtP99 >= BUSY_SHARE * f.concurrency) {
    ordering = plan.sequencer === undefined ? 'key (or none with a sequencer, if its writes commute)' : 'none: the sequencer restores order';
    because.push('with ordering key one write per key is in flight, so a few hot keys cap the concurrency it needs');
  } else if (f.ordering === 'none' && plan.sequencer === undefined) {
    ordering = 'key, or add ordering.sequencer';
    because.push('ordering none without a sequencer gives no per-key order downstream');
  }
  return { destination: f.name, shape, concurrency, ordering, because };
}

export function ms(seconds: number): string {
  const value = seconds * 1000;
  if (value >= 10_000) return `${(value / 1000).toFixed(1)}s`;
  if (value >= 10) return `${value.toFixed(0)}ms`;
  return `${value.toFixed(1)}ms`;
}

export function pct(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 2 : 1)}%`;
}
