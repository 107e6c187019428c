/**
 * Retrying infrastructure steps (Redis, Kafka, a schema registry, the broker's metadata):
 * cockatiel retry policies with exponential backoff and full jitter (backoff.ts), so every
 * such loop in flowyard waits, logs and stops the same way.
 *
 * - `retryForever`: for a step whose failure would lose an event. No attempt limit; the
 *   role's signal ends it (AbandonedError), and the step is not called again after that.
 * - `retryLimited`: for a step that may fail for good after a few tries (start-up checks).
 * - `retryWhenAsked`: for a step that decides itself, after each failure, whether and when
 *   to try again (one event's write: its own attempts, backoff and dead-letter rules).
 *
 * cockatiel's waits are timers a signal does not cut short; they are unref'd, because a
 * running role holds the process open by its Kafka connections anyway, and a stopped one
 * must not wait `maxDelayMs` before the process may exit.
 */
import { DelegateBackoff, handleType, handleWhen, retry, type IRetryBackoffContext } from 'cockatiel';
import { AbandonedError, cutWaitsShort } from './abort.js';
import { JitteredBackoff, type Random } from './backoff.js';

export interface BackoffRange {
  /** Ceiling of the first wait; doubles each try. */
  readonly initialDelayMs: number;
  /** Ceiling of every wait. */
  readonly maxDelayMs: number;
}

export interface RetryForeverOptions {
  /** Aborts when the role stops: the wait ends at once with AbandonedError. */
  readonly signal: AbortSignal;
  readonly backoff: BackoffRange;
  /** Told each failed try (1 = the first) and the wait before the next: log it. */
  readonly onRetry: (error: unknown, attempt: number, waitMs: number) => void;
  /**
   * Runs after each wait, before the step is tried again, outside the retries: what it
   * throws ends them (a consumer heartbeat that reports a rebalance).
   */
  readonly beforeRetry?: () => Promise<void>;
  /** Injected by tests; default Math.random. */
  readonly random?: Random;
}

/** Carries what `beforeRetry` threw past the retry policy, which retries every other error. */
class NotRetried {
  constructor(readonly error: unknown) {}
}

/** Tries `step` until it succeeds; rejects only with AbandonedError (the signal aborted) or what `beforeRetry` threw. */
export async function retryForever<T>(step: () => Promise<T>, options: RetryForeverOptions): Promise<T> {
  const { signal } = options;
  const policy = retry(
    handleWhen((error) => !(error instanceof NotRetried) && !(error instanceof AbandonedError)),
    { maxAttempts: Number.POSITIVE_INFINITY, backoff: new JitteredBackoff({ ...options.backoff, random: options.random ?? Math.random }) },
  ).dangerouslyUnref();
  const listener = policy.onRetry((event) => {
    if ('error' in event) options.onRetry(event.error, event.attempt, event.delay);
  });
  try {
    return await cutWaitsShort(signal, (guard) =>
      policy.execute(async ({ attempt }) => {
        if (attempt > 0 && options.beforeRetry !== undefined) {
          const beforeRetry = options.beforeRetry;
          await guard(beforeRetry).catch((error: unknown) => {
            throw error instanceof AbandonedError ? error : new NotRetried(error);
          });
        }
        return guard(step);
      }, signal),
    );
  } catch (error) {
    if (error instanceof NotRetried) throw error.error;
    throw error;
  } finally {
    listener.dispose();
  }
}

export interface RetryLimitedOptions {
  /** Tries in all, the first included; `Infinity` for a bound that `retryIf` sets (a deadline). */
  readonly attempts: number;
  /** The wait after failed try number `attempt` (1 = the first), ms. */
  readonly waitMs: (attempt: number) => number;
  /** Errors worth another try; the rest end the retries at once. */
  readonly retryIf: (error: unknown) => boolean;
  /** Told each failed try that will be tried again, before its wait. */
  readonly onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
  /** Aborts a wait at once (AbandonedError); a try in progress finishes. */
  readonly signal?: AbortSignal;
}

/** Tries `step` up to `attempts` times while it fails with an error `retryIf` accepts; then rejects with the last error. */
export async function retryLimited<T>(step: () => Promise<T>, options: RetryLimitedOptions): Promise<T> {
  const backoff = new DelegateBackoff<IRetryBackoffContext<unknown>>((context) => options.waitMs(context.attempt));
  const policy = retry(
    handleWhen((error) => !(error instanceof AbandonedError) && options.retryIf(error)),
    { maxAttempts: options.attempts - 1, backoff },
  ).dangerouslyUnref();
  const listener = policy.onRetry((event) => {
    if ('error' in event) options.onRetry?.(event.error, event.attempt, event.delay);
  });
  try {
    const { signal } = options;
    if (signal === undefined) return await policy.execute(() => step());
    return await cutWaitsShort(signal, (guard) => policy.execute(() => guard(step), signal));
  } finally {
    listener.dispose();
  }
}

/** Thrown by a `retryWhenAsked` step to be called again after `delayMs`. */
export class TryAgain extends Error {
  override readonly name = 'TryAgain';
  constructor(readonly delayMs: number) {
    super(`try again in ${delayMs} ms`);
  }
}

/**
 * Calls `step` with its try number (1 = the first) until it returns. The step asks for
 * another try by throwing `TryAgain` with the wait before it; any other error ends the tries
 * and is thrown. A wait ends with AbandonedError when `signal` aborts; a try in progress finishes.
 */
export async function retryWhenAsked<T>(step: (attempt: number) => Promise<T>, options: { readonly signal: AbortSignal }): Promise<T> {
  const { signal } = options;
  const policy = retry(handleType(TryAgain), {
    maxAttempts: Number.POSITIVE_INFINITY,
    backoff: new DelegateBackoff<IRetryBackoffContext<unknown>>(({ result }) => ('error' in result && result.error instanceof TryAgain ? result.error.delayMs : 0)),
  }).dangerouslyUnref();
  return cutWaitsShort(signal, (guard) => policy.execute(({ attempt }) => guard(() => step(attempt + 1)), signal));
}
