/**
 * Latency models of simulated destinations: a log-normal fitted to quantiles given on the
 * command line, or a measured histogram (flowyard_write_duration_seconds) sampled by inverse
 * transform. Both map a uniform draw to milliseconds, so the simulation stays seeded.
 */
import { quantile, valueAtRank, type BucketHistogram } from '../measure/histogram.js';

export interface LatencyModel {
  /** Milliseconds for the uniforms `u1`, `u2` in [0, 1). */
  sample(u1: number, u2: number): number;
  /** The q-quantile in milliseconds. */
  quantile(q: number): number;
  /** Where the numbers came from, for the printed header. */
  readonly describe: string;
}

/** Standard normal quantiles of the tail points a user can give. */
export const TAIL_Z = { p90: 1.2815515655, p95: 1.644853627, p99: 2.326347874, p999: 3.090232306 } as const;
export type TailPoint = keyof typeof TAIL_Z;

/**
 * Log-normal with median `p50Ms` whose `tail` quantile is `tailMs`: sigma = ln(tail/p50) / z.
 * Without a tail point every call takes exactly `p50Ms`.
 */
export function logNormal(p50Ms: number, tail?: { readonly point: TailPoint; readonly ms: number }): LatencyModel {
  const mu = Math.log(p50Ms);
  const sigma = tail === undefined ? 0 : Math.log(tail.ms / p50Ms) / TAIL_Z[tail.point];
  const describe = tail === undefined ? `fixed ${formatMs(p50Ms)}` : `log-normal p50 ${formatMs(p50Ms)} ${tail.point} ${formatMs(tail.ms)}`;
  return {
    describe,
    // Box-Muller; 1 - u1 keeps the logarithm finite.
    sample: (u1, u2) => Math.exp(mu + sigma * Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2)),
    quantile: (q) => Math.exp(mu + sigma * normalQuantile(q)),
  };
}

/** Samples a measured histogram: a uniform rank, placed linearly inside its bucket. */
export function fromHistogram(histogram: BucketHistogram, origin: string): LatencyModel {
  return {
    describe: `measured (${origin}): p50 ${formatMs(quantile(histogram, 0.5) * 1000)} p99 ${formatMs(quantile(histogram, 0.99) * 1000)}, ${histogram.count} writes`,
    sample: (u1) => valueAtRank(histogram, u1 * histogram.count) * 1000,
    quantile: (q) => quantile(histogram, q) * 1000,
  };
}

/** Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p <= 0) return Number.NEGATIVE_INFINITY;
  if (p >= 1) return Number.POSITIVE_INFINITY;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms >= 10) return `${ms.toFixed(0)}ms`;
  return `${ms.toFixed(1)}ms`;
}
