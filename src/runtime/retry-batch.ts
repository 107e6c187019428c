import { retryForever } from '../resilience/retry.js';

/** Waits between tries of a batch that could not be processed (a registry, Redis or Kafka down). */
const BATCH_BACKOFF = { initialDelayMs: 200, maxDelayMs: 10_000 } as const;

export interface BatchRetryOptions {
  /** Aborts when the role stops: the batch is abandoned (AbandonedError), not committed. */
  readonly signal: AbortSignal;
  /** Keeps the consumer in its group while the batch waits; what it throws (a rebalance) ends the retries. */
  readonly heartbeat: () => Promise<void>;
  /** Logs one failed try; the batch waits `waitMs` before the next. */
  readonly onFailure: (error: unknown, attempt: number, waitMs: number) => void;
}

/**
 * Retries a whole consumed batch until `process` succeeds. Roles whose batch either
 * completes or leaves nothing behind (router, tracker) commit only afterwards, so giving up
 * would lose events and skipping would reorder them: they wait instead, with backoff.
 */
export function retryBatch(process: () => Promise<void>, options: BatchRetryOptions): Promise<void> {
  return retryForever(process, { signal: options.signal, backoff: BATCH_BACKOFF, onRetry: options.onFailure, beforeRetry: options.heartbeat });
}
