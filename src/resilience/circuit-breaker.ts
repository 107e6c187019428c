/**
 * A circuit breaker per destination, in the shape of cockatiel's `CircuitBreakerPolicy`
 * with a sampling breaker, but driven by an injected clock and without timers:
 *
 *            failures/requests >= failureRatio
 *            with requests >= minRequests
 *   closed ----------------------------------> open
 *     ^                                       |  ^
 *     | probe succeeds                        |  | probe fails
 *     |                canAttempt() after     v  |
 *     +------------------ halfOpenAfterMs -- half-open (one probe in flight)
 *
 * Nothing moves on its own: the open -> half-open step happens inside the first
 * `canAttempt()` call at or after `halfOpenAt`, which is why the open state carries that
 * instant: the worker sets its own timer for it.
 */
import { errorClassOf } from './error-class.js';
import { DEFAULT_BUCKET_COUNT, SlidingWindowCounter, type Now } from './sliding-window.js';

export type CircuitState =
  | { readonly name: 'closed' }
  | { readonly name: 'open'; readonly openedAt: number; readonly halfOpenAt: number }
  /** The single probe is in flight; further attempts wait for its result. */
  | { readonly name: 'half-open'; readonly since: number };

export type CircuitEvent =
  | { readonly type: 'break'; readonly state: Extract<CircuitState, { name: 'open' }> }
  | { readonly type: 'half-open'; readonly state: Extract<CircuitState, { name: 'half-open' }> }
  | { readonly type: 'reset'; readonly state: Extract<CircuitState, { name: 'closed' }> };

export type CircuitListener = (event: CircuitEvent) => void;

export interface CircuitBreakerOptions {
  /** Open when failures / requests in the window reach this ratio (0..1; 0 = any failure)... */
  readonly failureRatio: number;
  /** ...and at least this many requests were seen in the window, so one early failure cannot open it. */
  readonly minRequests: number;
  readonly windowMs: number;
  /** How long the circuit stays open before one probe may go through. */
  readonly halfOpenAfterMs: number;
  readonly buckets?: number;
  readonly now: Now;
  /**
   * Receives what a state listener threw. The breaker catches it so a faulty listener
   * (a metric, a log line) cannot leave the breaker half-switched; wire this to the logger.
   */
  readonly onListenerError?: (error: unknown) => void;
}

/**
 * Usage contract: ask `canAttempt()` right before each write and report every write it
 * allowed exactly once, with `recordSuccess()` or `recordFailure(error)`. A granted
 * half-open probe that is never reported keeps the circuit half-open.
 *
 * Results reported while open are ignored: they belong to writes started before the
 * break. In half-open the first result reported decides, so a straggler from before the
 * break can stand in for the probe; with `timeoutMs` well below `halfOpenAfterMs` (5 s vs
 * 30 s by default) stragglers are over before the probe starts.
 */
export class CircuitBreaker {
  private current: CircuitState = { name: 'closed' };
  private readonly requests: SlidingWindowCounter;
  private readonly failures: SlidingWindowCounter;
  private listeners: readonly CircuitListener[] = [];

  constructor(private readonly options: CircuitBreakerOptions) {
    const { failureRatio, minRequests, halfOpenAfterMs } = options;
    if (!(failureRatio >= 0 && failureRatio <= 1)) throw new RangeError(`failureRatio must be in [0, 1], got ${failureRatio}`);
    if (!Number.isInteger(minRequests) || minRequests < 1) throw new RangeError(`minRequests must be an integer >= 1, got ${minRequests}`);
    if (!(halfOpenAfterMs >= 0)) throw new RangeError(`halfOpenAfterMs must be >= 0, got ${halfOpenAfterMs}`);
    const buckets = options.buckets ?? DEFAULT_BUCKET_COUNT;
    this.requests = new SlidingWindowCounter(options.windowMs, buckets);
    this.failures = new SlidingWindowCounter(options.windowMs, buckets);
  }

  get state(): CircuitState {
    return this.current;
  }

  /**
   * Subscribes to break / half-open / reset. The worker pauses the destination's
   * partitions on `break` and resumes them on `reset`; on `break` it also sets a timer
   * for `state.halfOpenAt` and then calls `canAttempt()` to send the probe.
   * Returns the unsubscribe function.
   */
  onStateChange(listener: CircuitListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Whether a write may go out now; in half-open, true exactly once (the probe). */
  canAttempt(): boolean {
    const state = this.current;
    switch (state.name) {
      case 'closed':
        return true;
      case 'half-open':
        return false;
      case 'open': {
        const now = this.options.now();
        if (now < state.halfOpenAt) return false;
        const halfOpen = { name: 'half-open', since: now } as const;
        this.current = halfOpen;
        this.emit({ type: 'half-open', state: halfOpen });
        return true;
      }
    }
  }

  recordSuccess(): void {
    switch (this.current.name) {
      case 'closed':
        this.requests.add(this.options.now());
        return;
      case 'half-open':
        this.close();
        return;
      case 'open':
        return;
    }
  }

  /**
   * Reports a failed write. Only failures that speak about the destination's health count
   * (`errorClassOf` = `destination` or `timeout`). A permanent error (`invalid`: a 4xx, a
   * constraint violation) is the event's fault and proves the destination answered, so it
   * counts as a success; a `circuit-open` error was never sent and is ignored.
   */
  recordFailure(error: unknown): void {
    const errorClass = errorClassOf(error);
    if (errorClass === 'invalid') {
      this.recordSuccess();
      return;
    }
    if (errorClass === 'circuit-open') return;
    switch (this.current.name) {
      case 'closed': {
        const now = this.options.now();
        this.requests.add(now);
        this.failures.add(now);
        const requests = this.requests.total(now);
        if (requests >= this.options.minRequests && this.failures.total(now) / requests >= this.options.failureRatio) {
          this.open(now);
        }
        return;
      }
      case 'half-open':
        this.open(this.options.now());
        return;
      case 'open':
        return;
    }
  }

  private open(now: number): void {
    const open = { name: 'open', openedAt: now, halfOpenAt: now + this.options.halfOpenAfterMs } as const;
    this.current = open;
    this.emit({ type: 'break', state: open });
  }

  private close(): void {
    // Counts from before the break would reopen the circuit on the first failure after it.
    this.requests.reset();
    this.failures.reset();
    const closed = { name: 'closed' } as const;
    this.current = closed;
    this.emit({ type: 'reset', state: closed });
  }

  private emit(event: CircuitEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.reportListenerError(error);
      }
    }
  }

  private reportListenerError(error: unknown): void {
    try {
      this.options.onListenerError?.(error);
    } catch {
      // The error reporter failed too; the breaker's state is already consistent, keep going.
    }
  }
}
