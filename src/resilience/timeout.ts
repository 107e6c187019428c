/**
 * Bounding how long something may take: cockatiel's timeout policy, aggressive (the caller
 * stops waiting at the deadline whether or not the work heeds its signal), and without
 * aborting the signal of work that finished in time.
 */
import { TaskCancelledError, timeout, TimeoutStrategy } from 'cockatiel';

export interface TimeoutOptions {
  /** Do not keep the process alive for the deadline's timer (a bound on shutdown). */
  readonly unref?: boolean;
}

/**
 * Runs `work` with a signal that aborts after `ms`. Rejects with `onTimeout()` at the
 * deadline, also when the work ignores its signal or rejects because of the abort (a sink
 * rethrowing its signal's reason); otherwise passes the work's result or error through.
 */
export async function withTimeout<T>(ms: number, work: (signal: AbortSignal) => Promise<T>, onTimeout: () => Error, options: TimeoutOptions = {}): Promise<T> {
  const bounded = timeout(ms, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
  const policy = options.unref === true ? bounded.dangerouslyUnref() : bounded;
  let timedOut = false;
  const listener = policy.onTimeout(() => {
    timedOut = true;
  });
  try {
    return await policy.execute((context) => work(context.signal));
  } catch (error) {
    if (timedOut || error instanceof TaskCancelledError) throw onTimeout();
    throw error;
  } finally {
    listener.dispose();
  }
}
