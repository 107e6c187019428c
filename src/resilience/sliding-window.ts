/**
 * A count over a sliding time window, kept in a fixed ring of buckets so memory stays
 * constant however many events arrive. Shared by the retry budget and the circuit breaker.
 */

/** Milliseconds from a clock the caller injects (tests pass a fake; production `Date.now`). */
export type Now = () => number;

/** Ten buckets: the window slides in steps of a tenth, as in Finagle's and Envoy's budgets. */
export const DEFAULT_BUCKET_COUNT = 10;

/**
 * Counts events over the last `windowMs`. The window moves one bucket (`windowMs / buckets`)
 * at a time, so the span actually summed lies between `windowMs - bucket` and `windowMs`;
 * that coarseness is the price of O(buckets) memory.
 */
export class SlidingWindowCounter {
  private readonly bucketMs: number;
  private readonly counts: number[];
  /** Bucket number (time / bucketMs) each slot currently holds; a stale slot reads as empty. */
  private readonly epochs: number[];
  /** A clock that steps back (NTP) must not resurrect or wipe buckets. */
  private latestEpoch = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number, buckets: number = DEFAULT_BUCKET_COUNT) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be an integer >= 1, got ${buckets}`);
    this.bucketMs = windowMs / buckets;
    this.counts = new Array<number>(buckets).fill(0);
    this.epochs = new Array<number>(buckets).fill(Number.NEGATIVE_INFINITY);
  }

  add(now: number, amount = 1): void {
    const epoch = this.epochAt(now);
    const slot = this.slotOf(epoch);
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] ?? 0) + amount;
  }

  total(now: number): number {
    const oldestLive = this.epochAt(now) - this.counts.length + 1;
    let sum = 0;
    for (let slot = 0; slot < this.counts.length; slot += 1) {
      if ((this.epochs[slot] ?? Number.NEGATIVE_INFINITY) >= oldestLive) sum += this.counts[slot] ?? 0;
    }
    return sum;
  }

  reset(): void {
    this.counts.fill(0);
    this.epochs.fill(Number.NEGATIVE_INFINITY);
  }

  private epochAt(now: number): number {
    this.latestEpoch = Math.max(this.latestEpoch, Math.floor(now / this.bucketMs));
    return this.latestEpoch;
  }

  private slotOf(epoch: number): number {
    const n = this.counts.length;
    return ((epoch % n) + n) % n;
  }
}
