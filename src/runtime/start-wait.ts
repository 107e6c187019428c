/**
 * Waiting for a dependency at start (Redis, Kafka, a destination's server): a process
 * started during an outage waits for it like a running one does, instead of crash-looping
 * or hanging, and gives up after a bound so a dependency that never comes back ends in a
 * restart an operator sees (exit 1, one line naming what it waited for).
 *
 * While it waits, `/healthz` answers (the process is alive) and `/readyz` does not (it does
 * no work yet); each try logs one line naming what it waits for and why.
 *
 * A SIGTERM during a wait ends the wait at once (src/resilience/abort.ts says how, since
 * cockatiel's own waits do not heed a signal).
 */
import { RuntimeFailure } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { ExponentialBackoff } from '../resilience/backoff.js';
import { AbandonedError } from '../resilience/abort.js';
import { retryLimited } from '../resilience/retry.js';

/** Tries come quickly at first (a dependency starting alongside us), then every few seconds. */
const START_BACKOFF = { initialDelayMs: 500, maxDelayMs: 5_000 } as const;

export interface StartWaitOptions {
  /** Gives up after this long (FLOWYARD_START_TIMEOUT_MS); 0 waits without a bound. */
  readonly timeoutMs: number;
  /** Aborts on shutdown: the wait ends with AbandonedError (see sleep.ts). */
  readonly signal?: AbortSignal;
  readonly logger: Logger;
  /** Fields for every wait line (plan, destination). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * Runs `attempt` until it succeeds. An error `isOutage` accepts is waited out (with backoff,
 * up to `timeoutMs`); any other error (a configuration mistake) is thrown at once.
 * After the bound: a RuntimeFailure naming `what`, the last reason and the setting to change.
 */
export async function waitAtStart<T>(
  what: string,
  attempt: () => Promise<T>,
  isOutage: (error: unknown) => boolean,
  options: StartWaitOptions,
): Promise<T> {
  const { timeoutMs, signal, logger } = options;
  const backoff = new ExponentialBackoff({ ...START_BACKOFF, random: Math.random });
  const started = Date.now();
  const leftMs = (): number => (timeoutMs === 0 ? Infinity : timeoutMs - (Date.now() - started));
  let tries = 0;
  try {
    return await retryLimited(
      async () => {
        tries += 1;
        const result = await attempt();
        if (tries > 1) logger.info({ ...options.fields, waitingFor: what, waitedMs: Date.now() - started }, `${what} answers; starting`);
        return result;
      },
      {
        attempts: Number.POSITIVE_INFINITY,
        retryIf: (error) => isOutage(error) && leftMs() > 0,
        waitMs: (failed) => Math.min(Math.max(100, backoff.delayMs(failed)), leftMs()),
        onRetry: (error, failed, waitMs) => {
          const reason = firstLine(error);
          logger.warn({ ...options.fields, waitingFor: what, reason, attempt: failed, waitedMs: Date.now() - started, nextTryInMs: waitMs }, `waiting for ${what}: ${reason}`);
        },
        ...(signal !== undefined && { signal }),
      },
    );
  } catch (error) {
    // A stop, or a mistake, as it is; an outage still going on means the bound passed.
    if (error instanceof AbandonedError || !isOutage(error)) throw error;
    throw new RuntimeFailure(
      `${what} did not answer within ${seconds(timeoutMs)} of start (${firstLine(error)}); gave up waiting (FLOWYARD_START_TIMEOUT_MS=${timeoutMs}; 0 waits without a bound)`,
      { cause: error },
    );
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.split('\n')[0]!.trim();
}

function seconds(ms: number): string {
  return ms % 1_000 === 0 ? `${ms / 1_000} s` : `${(ms / 1_000).toFixed(1)} s`;
}
