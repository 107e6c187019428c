/** Thrown by `sleep` when its signal aborts: the role is stopping and the work is abandoned (not committed). */
export class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
  constructor() {
    super('abandoned: the role is stopping');
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
