/**
 * Stopping a wait when the role stops. cockatiel's retry waits are plain timers that a
 * signal does not cut short, so the policies here race their run against the role's signal
 * while they wait (`cutWaitsShort`): on abort the caller gets AbandonedError at once, and the
 * policy's own unref'd timer runs out in the background without calling the step again.
 */

/** Thrown when the role's signal aborts a wait: the role is stopping and the work is abandoned (not committed). */
export class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
  constructor() {
    super('abandoned: the role is stopping');
  }
}

/** Wraps each call of the step so that a stop can tell a step in progress from a wait. */
export type StepGuard = <R>(step: () => Promise<R> | R) => Promise<R>;

/**
 * Runs a policy (`run`) whose waits the signal must cut short: when the signal aborts during
 * a wait, the result is AbandonedError at once, and the step is not called again; a step in
 * progress when it aborts finishes, and decides (its result, or AbandonedError if it failed,
 * since nothing tries again). `run` must call the step only through the guard it is given.
 *
 * The signal is listened to only once a wait can follow (the step threw, or its result is
 * one `waitsAfter` says the policy waits after): the many steps that succeed at once add no
 * listener to a role's signal, which Node would report as a leak beyond ten.
 */
export async function cutWaitsShort<T>(signal: AbortSignal, run: (guard: StepGuard) => Promise<T>, waitsAfter: (result: unknown) => boolean = () => false): Promise<T> {
  if (signal.aborted) throw new AbandonedError();
  let inStep = false;
  let listening = false;
  let abandon: (error: AbandonedError) => void = () => undefined;
  const abandoned = new Promise<never>((_, reject) => {
    abandon = reject;
  });
  abandoned.catch(() => undefined);
  const onAbort = () => {
    if (!inStep) abandon(new AbandonedError());
  };
  const listen = () => {
    if (listening) return;
    listening = true;
    signal.addEventListener('abort', onAbort, { once: true });
  };
  const guard: StepGuard = async (step) => {
    if (signal.aborted) throw new AbandonedError();
    inStep = true;
    try {
      const result = await step();
      if (waitsAfter(result)) listen();
      return result;
    } catch (error) {
      listen();
      throw error;
    } finally {
      inStep = false;
    }
  };
  const running = run(guard);
  // Once abandoned, the policy's last timer may still fire; the guard then refuses the step.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, abandoned]);
  } catch (error) {
    if (signal.aborted) throw new AbandonedError();
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Waits `ms`, or rejects with AbandonedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbandonedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbandonedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves with `work`, or rejects with the signal's reason as soon as it aborts: a sink's
 * write whose client takes no signal (ioredis, pg, kafkajs) stops being waited for when its
 * timeout or the role aborts it.
 */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // Work that fails after the abort won the race must not become an unhandled rejection; work
  // that completes later is harmless because every sink write is idempotent by event id.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
