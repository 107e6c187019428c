/**
 * The circuit breaker of a destination: cockatiel's `CircuitBreakerPolicy`, deciding with
 * `WindowBreaker` (a failure ratio over a sliding window, counted by error class), and
 * composed with a retry policy that holds a write while the circuit is open:
 *
 *            failures/requests >= failureRatio
 *            with requests >= minRequests
 *   closed ----------------------------------> open
 *     ^                                       |  ^
 *     | probe succeeds                        |  | probe fails
 *     |              first write after        v  |
 *     +---------------- halfOpenAfterMs --- half-open (one probe; other writes wait for it)
 *
 * cockatiel's own `SamplingBreaker` does not fit: it opens only strictly above a threshold in
 * (0, 1), sizes its minimum by requests per second rather than a count, and reads
 * `Date.now()`, so the plan's `failureRatio` 0 or 1 and `minRequests` could not be kept, nor
 * its rules unit-tested on an injected clock.
 */
import {
  BrokenCircuitError,
  CircuitState,
  DelegateBackoff,
  circuitBreaker,
  handleType,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
  type IBreaker,
  type IRetryBackoffContext,
  type RetryPolicy,
} from 'cockatiel';
import { cutWaitsShort } from './abort.js';
import { errorClassOf } from './error-class.js';
import { DEFAULT_BUCKET_COUNT, SlidingWindowCounter, type Now } from './sliding-window.js';

export interface WindowBreakerOptions {
  /** Open when failures / requests in the window reach this ratio (0..1; 0 = any failure)... */
  readonly failureRatio: number;
  /** ...and at least this many requests were seen in the window, so one early failure cannot open it. */
  readonly minRequests: number;
  readonly windowMs: number;
  readonly buckets?: number;
  readonly now: Now;
}

/**
 * When a closed circuit opens, as cockatiel's `IBreaker`: the policy reports each write it let
 * through (only failures its filter handles reach `failure`, see `countsAgainstDestination`).
 * Pure apart from the injected clock.
 */
export class WindowBreaker implements IBreaker {
  private readonly requests: SlidingWindowCounter;
  private readonly failures: SlidingWindowCounter;

  constructor(private readonly options: WindowBreakerOptions) {
    const { failureRatio, minRequests } = options;
    if (!(failureRatio >= 0 && failureRatio <= 1)) throw new RangeError(`failureRatio must be in [0, 1], got ${failureRatio}`);
    if (!Number.isInteger(minRequests) || minRequests < 1) throw new RangeError(`minRequests must be an integer >= 1, got ${minRequests}`);
    const buckets = options.buckets ?? DEFAULT_BUCKET_COUNT;
    this.requests = new SlidingWindowCounter(options.windowMs, buckets);
    this.failures = new SlidingWindowCounter(options.windowMs, buckets);
  }

  /**
   * cockatiel's hook for persisting a breaker across processes (`toJSON`); a worker's circuit
   * lives and dies with the worker, so there is nothing to carry over.
   */
  get state(): unknown {
    return undefined;
  }

  set state(_ignored: unknown) {
    // Never hydrated: see the getter.
  }

  success(state: CircuitState): void {
    // The probe succeeded and the circuit closes: counts from before the break would reopen
    // it on the first failure after it.
    if (state === CircuitState.HalfOpen) return this.reset();
    this.requests.add(this.options.now());
  }

  /** Whether the circuit opens. A write that fails while not closed (the probe) always opens it. */
  failure(state: CircuitState): boolean {
    if (state !== CircuitState.Closed) return true;
    const now = this.options.now();
    this.requests.add(now);
    this.failures.add(now);
    const requests = this.requests.total(now);
    return requests >= this.options.minRequests && this.failures.total(now) / requests >= this.options.failureRatio;
  }

  private reset(): void {
    this.requests.reset();
    this.failures.reset();
  }
}

/**
 * Only failures that speak about the destination's health count against it (`errorClassOf`
 * = `destination` or `timeout`). A permanent error (`invalid`: a 4xx, a constraint violation)
 * is the event's fault and proves the destination answered: `DestinationCircuit` hands it to
 * the breaker as a success.
 */
export function countsAgainstDestination(error: unknown): boolean {
  const errorClass = errorClassOf(error);
  return errorClass === 'destination' || errorClass === 'timeout';
}

export type CircuitStateName = 'closed' | 'open' | 'half-open';

export type CircuitListener = (state: CircuitStateName) => void;

export interface DestinationCircuitOptions extends WindowBreakerOptions {
  /** How long the circuit stays open before one write may go through as the probe. */
  readonly halfOpenAfterMs: number;
  /**
   * Receives what a state listener threw. cockatiel calls listeners inside the write that
   * changed the state, so a faulty listener (a metric, a log line) would fail that write;
   * they are caught here and reported instead: wire this to the logger.
   */
  readonly onListenerError?: (error: unknown) => void;
}

/** Shortest wait between looks at an open circuit, ms. */
const MIN_OPEN_WAIT_MS = 10;

/** A value that carries a permanent error past the breaker, which must count it as an answer. */
class Answered {
  constructor(readonly error: unknown) {}
}

export class DestinationCircuit {
  private readonly breaker: CircuitBreakerPolicy;
  /** Holds a write while the circuit is open; holding is a wait, not an attempt. */
  private readonly whileOpen: RetryPolicy;
  /** When the circuit last opened (ms since epoch), for the wait until the probe. */
  private openedAt = 0;

  constructor(private readonly options: DestinationCircuitOptions) {
    const { halfOpenAfterMs } = options;
    if (!(halfOpenAfterMs >= 0)) throw new RangeError(`halfOpenAfterMs must be >= 0, got ${halfOpenAfterMs}`);
    this.breaker = circuitBreaker(handleWhen(countsAgainstDestination), { halfOpenAfter: halfOpenAfterMs, breaker: new WindowBreaker(options) });
    // cockatiel stamps its own opening with Date.now() just before it emits, so this is never earlier.
    this.breaker.onBreak(() => {
      this.openedAt = Date.now();
    });
    this.whileOpen = retry(handleType(BrokenCircuitError), {
      maxAttempts: Number.POSITIVE_INFINITY,
      backoff: new DelegateBackoff<IRetryBackoffContext<unknown>>(() => Math.max(MIN_OPEN_WAIT_MS, this.openedAt + halfOpenAfterMs - Date.now())),
    }).dangerouslyUnref();
  }

  get state(): CircuitStateName {
    return nameOf(this.breaker.state);
  }

  /** Subscribes to the circuit's changes (the worker pauses its partitions while open). Returns the unsubscribe function. */
  onStateChange(listener: CircuitListener): () => void {
    const subscription = this.breaker.onStateChange((state) => {
      try {
        listener(nameOf(state));
      } catch (error) {
        this.reportListenerError(error);
      }
    });
    return () => subscription.dispose();
  }

  /**
   * Runs `write` through the circuit: at once while closed; while open, after waiting for the
   * probe (the first write after `halfOpenAfterMs` is the probe, the others wait for its
   * result). The wait ends with AbandonedError when `signal` aborts; a write in progress finishes.
   */
  async execute<T>(write: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const result = await cutWaitsShort(signal, (guard) =>
      this.whileOpen.execute(
        () =>
          guard(() =>
            this.breaker.execute(async () => {
              try {
                return await write();
              } catch (error) {
                if (errorClassOf(error) === 'invalid') return new Answered(error);
                throw error;
              }
            }),
          ),
        signal,
      ),
    );
    if (result instanceof Answered) throw result.error;
    return result;
  }

  private reportListenerError(error: unknown): void {
    try {
      this.options.onListenerError?.(error);
    } catch {
      // The error reporter failed too; the circuit's state is already consistent, keep going.
    }
  }
}

function nameOf(state: CircuitState): CircuitStateName {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.HalfOpen:
      return 'half-open';
    // Isolated (held open by hand) is never used here; it holds writes as open does.
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 'open';
  }
}
