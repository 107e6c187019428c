/**
 * Waiting for a condition that only polling can see (a circuit's state, another write's
 * success, the retry budget, Redis counts, how far a consumer read): a cockatiel retry policy that retries while the check answers
 * false, with the wait between checks given per check, and the role's signal ending it.
 */
import { DelegateBackoff, handleWhenResult, retry, type IRetryBackoffContext } from 'cockatiel';
import { AbandonedError, cutWaitsShort } from './abort.js';

export interface PollOptions {
  /** Aborts when the role stops: the wait ends at once with AbandonedError. A command without roles waits to the end. */
  readonly signal?: AbortSignal;
  /** Wait before the next check, ms; asked after each check that answered false. */
  readonly intervalMs: number | (() => number);
  /** Gives up (resolves false) once this instant (ms since epoch) has passed. */
  readonly until?: number;
}

const EXPIRED = Symbol('expired');

/**
 * Resolves true once `condition` holds (checked at once, then after each interval), false once
 * `until` passed first; rejects with AbandonedError when the signal aborts first, and with
 * what `condition` threw (a check may also decide the wait is hopeless).
 */
export async function pollUntil(condition: () => boolean | Promise<boolean>, options: PollOptions): Promise<boolean> {
  const { intervalMs, until, signal } = options;
  const wait = typeof intervalMs === 'number' ? () => intervalMs : intervalMs;
  const checks = retry(handleWhenResult((held) => held === false), {
    maxAttempts: Number.POSITIVE_INFINITY,
    backoff: new DelegateBackoff<IRetryBackoffContext<unknown>>(() => wait()),
  });
  const check = async (): Promise<boolean | typeof EXPIRED> => (until !== undefined && Date.now() >= until ? EXPIRED : condition());
  // Without a signal nothing else may be holding the process open for the wait's timer.
  if (signal === undefined) return (await checks.execute(check)) === true;
  const policy = checks.dangerouslyUnref();
  // The guard never checks once the role stops: a check may act (take a retry from the budget).
  const held = await cutWaitsShort(signal, (guard) => policy.execute(() => guard(check), signal), (held) => held === false);
  if (held === true) return true;
  // A check that was running when the role stopped answered no: stopped, not expired.
  if (signal.aborted) throw new AbandonedError();
  return false;
}
