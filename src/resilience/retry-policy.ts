/**
 * What to do after a failed attempt: retry after a delay, or give up and dead-letter.
 * Pure: the worker owns the waiting, the attempt counter and the retry budget.
 */
import { ExponentialBackoff, type Random } from './backoff.js';
import { RetriesExhaustedError, errorClassOf, isRetriable, type ErrorClass } from './error-class.js';

export interface RetryPolicyOptions {
  /** Total attempts including the first; the plan's `retry.maxAttempts`. */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly random: Random;
}

export type RetryDecision =
  | { readonly action: 'retry'; readonly delayMs: number }
  | {
      readonly action: 'give-up';
      /** `permanent`: the error says no retry can help; `exhausted`: `maxAttempts` were made. */
      readonly reason: 'permanent' | 'exhausted';
      /** For `fy-error`: the original error, or a `RetriesExhaustedError` with it as `cause`. */
      readonly error: Error;
      /** For `fy-error-class`. */
      readonly errorClass: ErrorClass;
    };

export class RetryPolicy {
  private readonly backoff: ExponentialBackoff;

  constructor(private readonly options: RetryPolicyOptions) {
    if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be an integer >= 1, got ${options.maxAttempts}`);
    }
    this.backoff = new ExponentialBackoff(options);
  }

  /**
   * Decides after attempt number `attempt` (1 = the first) failed with `error`.
   *
   * Count only attempts that reached the destination: a write the circuit breaker or the
   * retry budget held back is a wait, not an attempt, so an outage does not burn an
   * event's attempts while nothing is even tried (docs/architecture.md §7, invariant 1: nothing is dropped).
   * Unknown errors count as retriable: a bug surfaces as `maxAttempts` failures in the DLQ
   * with the error as cause, rather than as a silent drop.
   */
  decide(error: unknown, attempt: number): RetryDecision {
    if (!isRetriable(error)) {
      return { action: 'give-up', reason: 'permanent', error: asError(error), errorClass: errorClassOf(error) };
    }
    if (attempt >= this.options.maxAttempts) {
      return {
        action: 'give-up',
        reason: 'exhausted',
        error: new RetriesExhaustedError(attempt, error),
        errorClass: errorClassOf(error),
      };
    }
    return { action: 'retry', delayMs: this.backoff.delayMs(attempt, retryAfterMsOf(error)) };
  }
}

function retryAfterMsOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('retryAfterMs' in error)) return undefined;
  const { retryAfterMs } = error;
  return typeof retryAfterMs === 'number' ? retryAfterMs : undefined;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error), { cause: error });
}
