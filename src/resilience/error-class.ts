/**
 * Errors carry their kind: the retry policy, the circuit breaker and the
 * dead-letter header `fy-error-class` (docs/architecture.md §5) read the kind, never the message.
 */
import { BrokenCircuitError } from 'cockatiel';
import { SinkError } from '../sinks/sink.js';

/** Value of the `fy-error-class` header of a dead-letter record written by a worker. */
export type ErrorClass = 'destination' | 'timeout' | 'circuit-open' | 'invalid';

/** A write did not answer within the destination's `timeoutMs`. Retriable. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly kind = 'timeout';
  constructor(
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`no answer within ${timeoutMs} ms`, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/**
 * Retries of one event ran out. The last attempt's error is the `cause`, so the DLQ
 * record and the log show what actually went wrong, not just that it kept going wrong.
 */
export class RetriesExhaustedError extends Error {
  override readonly name = 'RetriesExhaustedError';
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${messageOf(cause)}`, { cause });
  }
}

/**
 * The DLQ class of an error, from its kind:
 * - a permanent `SinkError` is the event's fault (a 4xx, a constraint violation): `invalid`;
 * - `TimeoutError`, and the DOMException `AbortSignal.timeout()` rejects with: `timeout`;
 * - cockatiel's `BrokenCircuitError` (the circuit refused the write unsent): `circuit-open`;
 * - `RetriesExhaustedError`: the class of its cause, the error that made the last attempt fail;
 * - anything else (retriable `SinkError`, an unknown error) is the destination's: `destination`.
 */
export function errorClassOf(error: unknown): ErrorClass {
  if (error instanceof RetriesExhaustedError) return errorClassOf(error.cause);
  if (error instanceof SinkError) return error.kind === 'permanent' ? 'invalid' : 'destination';
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof BrokenCircuitError) return 'circuit-open';
  // AbortSignal.timeout() rejects with DOMException; its name is the spec's kind tag, not prose.
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'timeout';
  return 'destination';
}

/** Whether another attempt can help: only the event's own fault (`invalid`) says no. */
export function isRetriable(error: unknown): boolean {
  return errorClassOf(error) !== 'invalid';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
