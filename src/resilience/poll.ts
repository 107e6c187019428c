/**
 * Waiting for a condition that only polling can see (a circuit's state, another write's
 * success, Redis counts): a cockatiel retry policy that retries while the check answers
 * false, with the wait between checks given per check, and the role's signal ending it.
 */
import { DelegateBackoff, handleWhenResult, retry, type IRetryBackoffContext } from 'cockatiel';
import { AbandonedError, cutWaitsShort } from './abort.js';

export interface PollOptions {
  /** Aborts when the role stops: the wait ends at once with AbandonedError. */
  readonly signal: AbortSignal;
  /** Wait before the next check, ms; asked after each check that answered false. */
  readonly intervalMs: number | (() => number);
  /** Gives up (resolves false) once this instant (ms since epoch) has passed. */
  readonly until?: number;
}

const EXPIRED = Symbol('expired');

/**
 * Resolves true once `condition` holds (checked at once, then after each interval), false once
 * `until` passed first; rejects with AbandonedError when the signal aborts first.
 */
export async function pollUntil(condition: () => boolean | Promise<boolean>, options: PollOptions): Promise<boolean> {
  const { intervalMs, until } = options;
  const wait = typeof intervalMs === 'number' ? () => intervalMs : intervalMs;
  const policy = retry(handleWhenResult((held) => held === false), {
    maxAttempts: Number.POSITIVE_INFINITY,
    backoff: new DelegateBackoff<IRetryBackoffContext<unknown>>(() => wait()),
  }).dangerouslyUnref();
  // The guard never checks once the role stops: a check may act (a breaker grants its probe on one).
  const held = await cutWaitsShort(options.signal, (guard) =>
    policy.execute(() => guard(async (): Promise<boolean | typeof EXPIRED> => (until !== undefined && Date.now() >= until ? EXPIRED : condition())), options.signal),
    (held) => held === false,
  );
  if (held === true) return true;
  // A check that was running when the role stopped answered no: stopped, not expired.
  if (options.signal.aborted) throw new AbandonedError();
  return false;
}
