/**
 * The one small interface every sink module implements. A sink writes one event to one
 * destination; the worker around it owns ordering, retries, timeouts, dedup and metrics.
 */

import type { CarriedHeaders } from '../kafka/records.js';

/** An event as a sink sees it: the original bytes plus what flowyard extracted. */
export interface SinkRecord {
  readonly eventId: string;
  /** Causal (partition) key. */
  readonly key: string;
  /** The value bytes exactly as they came in. */
  readonly value: Buffer;
  /** flowyard headers (fy-*, traceparent) to pass on where the destination supports them. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Headers of other systems on the source record, byte-exact (`carriedHeaders` in
   * src/kafka/records.ts); absent when it had none. The `kafka` sink writes them; sinks whose
   * protocol a producer could misuse through them (HTTP) do not.
   */
  readonly carriedHeaders?: CarriedHeaders;
  /** The decoded payload, for sinks that write structured data. */
  readonly payload: unknown;
}

export interface Sink {
  /** Connects and checks the destination exists (a missing table is a startup error). */
  start(): Promise<void>;
  /**
   * Writes one record. Must be idempotent by `record.eventId`. Rejects with a SinkError
   * saying whether a retry can help; `signal` aborts on the write timeout.
   */
  write(record: SinkRecord, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export type SinkErrorKind = 'retriable' | 'permanent';

/** Errors carry their kind, so the retry policy reads a flag, never a message. */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  constructor(
    message: string,
    readonly kind: SinkErrorKind,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly retryAfterMs: number | undefined;
}
