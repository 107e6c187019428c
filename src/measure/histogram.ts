/**
 * Cumulative-bucket histograms as Prometheus exports them (`_bucket{le}`, `_sum`, `_count`),
 * with the quantile arithmetic of PromQL's `histogram_quantile`: linear inside a bucket, and
 * the highest finite bound for a quantile that falls in the `+Inf` bucket.
 */
import { select, sum, type Sample } from './prom-text.js';

export interface Bucket {
  /** Upper bound in seconds; `Infinity` for `+Inf`. */
  readonly le: number;
  /** Observations <= le (cumulative). */
  readonly count: number;
}

export interface BucketHistogram {
  /** Sorted by `le`, cumulative, ending with `+Inf`. */
  readonly buckets: readonly Bucket[];
  /** Sum of all observations, seconds. */
  readonly sum: number;
  readonly count: number;
}

/**
 * The histogram `name` (without `_bucket`) over the samples matching `match`, summed across
 * the other labels (plans, replicas). Undefined when it has no observations.
 */
export function histogramOf(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): BucketHistogram | undefined {
  const byLe = new Map<number, number>();
  for (const sample of select(samples, `${name}_bucket`, match)) {
    const le = sample.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample.labels.le);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + sample.value);
  }
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  const count = buckets.at(-1)?.count ?? 0;
  if (count <= 0) return undefined;
  return { buckets, sum: sum(samples, `${name}_sum`, match), count };
}

/** The q-quantile (0..1) in seconds, as `histogram_quantile` computes it. */
export function quantile(histogram: BucketHistogram, q: number): number {
  return valueAtRank(histogram, q * histogram.count);
}

/** The value below which `rank` observations fall, interpolated linearly inside its bucket. */
export function valueAtRank(histogram: BucketHistogram, rank: number): number {
  const { buckets } = histogram;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank && bucket.count > lowerCount) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lowerLe;
      return lowerLe + ((bucket.le - lowerLe) * (rank - lowerCount)) / (bucket.count - lowerCount);
    }
    if (bucket.le !== Number.POSITIVE_INFINITY) lowerLe = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerLe;
}

/** Mean observation in seconds (`_sum / _count`). */
export function mean(histogram: BucketHistogram): number {
  return histogram.sum / histogram.count;
}

/** `later - earlier`, bucket by bucket: what was observed between two scrapes. */
export function difference(later: BucketHistogram, earlier: BucketHistogram | undefined): BucketHistogram | undefined {
  if (earlier === undefined) return later;
  const before = new Map(earlier.buckets.map((b) => [b.le, b.count]));
  const buckets = later.buckets.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) }));
  const count = buckets.at(-1)?.count ?? 0;
  if (count <= 0) return undefined;
  return { buckets, sum: later.sum - earlier.sum, count };
}
