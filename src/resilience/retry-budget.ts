/**
 * A retry budget per destination, after Finagle's `RetryBudget` and Envoy's
 * `retry_budget`: retries may not exceed a share of first attempts over a sliding window.
 * Per-event backoff alone lets every failing event retry, so a destination that fails
 * everything receives `maxAttempts` times its normal load just when it can least take it;
 * the budget caps that amplification at `1 + ratio`.
 */
import { DEFAULT_BUCKET_COUNT, SlidingWindowCounter, type Now } from './sliding-window.js';

export interface RetryBudgetOptions {
  /** Retries allowed per first attempt over the window; the plan's `retry.budgetRatio`. */
  readonly ratio: number;
  /** The plan's `retry.budgetWindowMs`. */
  readonly windowMs: number;
  /**
   * Retries allowed regardless of traffic, per second of window, so a quiet destination
   * (a handful of events, one of them failing) can still retry. Default 10/s, Finagle's default.
   */
  readonly minRetriesPerSecond?: number;
  readonly buckets?: number;
  readonly now: Now;
}

const DEFAULT_MIN_RETRIES_PER_SECOND = 10;
/** 0.57 * 100 is 56.99999999999999 in floating point; the budget should still grant 57. */
const FLOAT_SLACK = 1e-9;

/**
 * Call `recordAttempt()` once per event, for its first attempt; call `tryAcquireRetry()`
 * before each retry, which counts the retry when it is granted.
 *
 * A refused retry is a wait, not a failure: the worker keeps the event (its key stays
 * blocked, its offset uncommitted), waits another backoff delay and asks again, without
 * counting an attempt. The event is never dropped or dead-lettered because of the budget;
 * only the destination's answers decide that. When a destination fails everything, the
 * budget and the circuit breaker together turn the retry storm into a trickle of probes,
 * and consumption pauses once the scheduler's buffers fill (docs/architecture.md §7, invariant 4).
 */
export class RetryBudget {
  private readonly firstAttempts: SlidingWindowCounter;
  private readonly retries: SlidingWindowCounter;
  /** Retries the minimum allowance grants over one window. */
  private readonly reserve: number;

  constructor(private readonly options: RetryBudgetOptions) {
    if (!(options.ratio >= 0)) throw new RangeError(`ratio must be >= 0, got ${options.ratio}`);
    const minPerSecond = options.minRetriesPerSecond ?? DEFAULT_MIN_RETRIES_PER_SECOND;
    if (!(minPerSecond >= 0)) throw new RangeError(`minRetriesPerSecond must be >= 0, got ${minPerSecond}`);
    const buckets = options.buckets ?? DEFAULT_BUCKET_COUNT;
    this.firstAttempts = new SlidingWindowCounter(options.windowMs, buckets);
    this.retries = new SlidingWindowCounter(options.windowMs, buckets);
    this.reserve = (minPerSecond * options.windowMs) / 1000;
  }

  recordAttempt(): void {
    this.firstAttempts.add(this.options.now());
  }

  /** True, and the retry is counted, if the window's retries stay within the budget. */
  tryAcquireRetry(): boolean {
    const now = this.options.now();
    const allowed = this.options.ratio * this.firstAttempts.total(now) + this.reserve;
    if (this.retries.total(now) + 1 > allowed + FLOAT_SLACK) return false;
    this.retries.add(now);
    return true;
  }
}
