/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): the delay is drawn uniformly from [0, min(maxDelayMs, initialDelayMs * 2^(n-1))).
 * Full jitter spreads the retries of many keys that failed together, so a destination that
 * comes back is not hit by one synchronised wave.
 */
import type { IBackoff, IBackoffFactory, IRetryBackoffContext } from 'cockatiel';

/** Uniform in [0, 1), like `Math.random`; injected so tests are deterministic. */
export type Random = () => number;

export interface BackoffOptions {
  /** Ceiling of the delay before the first retry; doubles each attempt. */
  readonly initialDelayMs: number;
  /** Upper bound of any delay, a server's `retryAfterMs` hint included. */
  readonly maxDelayMs: number;
  readonly random: Random;
}

/**
 * 2^52 is the largest power of two that keeps `initialDelayMs * 2^n` finite for any sane
 * initial delay; beyond it the ceiling is `maxDelayMs` anyway, and the clamp avoids
 * `0 * Infinity = NaN` when `initialDelayMs` is 0.
 */
const MAX_EXPONENT = 52;

export class ExponentialBackoff {
  constructor(private readonly options: BackoffOptions) {
    const { initialDelayMs, maxDelayMs } = options;
    if (!(initialDelayMs >= 0)) throw new RangeError(`initialDelayMs must be >= 0, got ${initialDelayMs}`);
    if (!(maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be >= 0, got ${maxDelayMs}`);
  }

  /**
   * Milliseconds to wait after failed attempt number `attempt` (1 = the first attempt)
   * before the next one.
   *
   * A server's `retryAfterMs` hint (HTTP `Retry-After`, a broker's throttle time) is a
   * floor: waiting less only earns another refusal. The result is `max(hint, jittered)`,
   * capped at `maxDelayMs` because a key waits in memory and blocks its successors the
   * whole time; a destination that needs longer gets the event through the DLQ and replay.
   */
  delayMs(attempt: number, retryAfterMs?: number): number {
    if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
    const { initialDelayMs, maxDelayMs, random } = this.options;
    const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, MAX_EXPONENT));
    const jittered = Math.floor(random() * ceiling);
    const hint = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0;
    return Math.min(maxDelayMs, Math.max(hint, jittered));
  }
}

/**
 * `ExponentialBackoff` as a cockatiel backoff, so cockatiel's retry policies wait with our
 * full jitter and injectable randomness. Stateless: the delay depends only on the attempt
 * cockatiel passes (1 after the first failure).
 */
export class JitteredBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  private readonly backoff: ExponentialBackoff;

  constructor(options: BackoffOptions) {
    this.backoff = new ExponentialBackoff(options);
  }

  next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    return { duration: this.backoff.delayMs(context.attempt), next: (following) => this.next(following) };
  }
}
