/**
 * The write of one event to a destination, decided: attempts with the destination's
 * timeout (inside) through the destination's circuit breaker, retries with backoff and full
 * jitter within the retry budget (outside), all cockatiel policies (docs/architecture.md §6, §7). An attempt that the open circuit or the budget holds
 * back is a wait, not an attempt. An event whose attempts run out while the destination is
 * out (circuit not closed, or nothing written there since it started failing) is held and
 * tried again, not dead-lettered.
 */
import { withCarried, type CarriedHeaders } from '../../kafka/records.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { traceWrite } from '../../observability/tracing.js';
import { AbandonedError } from '../../resilience/abort.js';
import { ExponentialBackoff } from '../../resilience/backoff.js';
import { DestinationCircuit, type CircuitListener } from '../../resilience/circuit-breaker.js';
import { TimeoutError, type ErrorClass } from '../../resilience/error-class.js';
import { RetryBudget } from '../../resilience/retry-budget.js';
import { RetryPolicy } from '../../resilience/retry-policy.js';
import { pollUntil } from '../../resilience/poll.js';
import { TryAgain, retryWhenAsked } from '../../resilience/retry.js';
import { withTimeout } from '../../resilience/timeout.js';
import type { Sink, SinkRecord } from '../../sinks/sink.js';
import type { PlanDestination } from '../../topology/plan.js';
import { toHeaders, type EventHeaders } from '../headers.js';

/** How often an exhausted write checks whether its destination is out or only this event fails. */
const DESTINATION_STATE_POLL_MS = 100;
/** Waits between asks of a retry the budget refused. */
const REFUSED_RETRY_BACKOFF = { initialDelayMs: 100, maxDelayMs: 5_000 } as const;

export interface WriteExecutorOptions {
  readonly destination: PlanDestination;
  readonly sink: Sink;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** `topology`, `plan`, `destination` (the done-key name: compensations are their own series). */
  readonly labels: { readonly topology: string; readonly plan: string; readonly destination: string };
  /** Aborts when the role stops: waits are cut short with AbandonedError. */
  readonly signal: AbortSignal;
}

/** One event to write: its headers, the consumed value and the decoded payload (undefined when it does not decode). */
export interface WriteRequest {
  readonly event: EventHeaders;
  readonly value: Buffer | null;
  /** The source record's headers of other systems, for sinks that write headers. */
  readonly carriedHeaders: CarriedHeaders | undefined;
  readonly payload: unknown;
  /** Fields every log line about this event carries. */
  readonly logFields: Record<string, unknown>;
}

export type WriteOutcome =
  | { readonly ok: true; readonly attempts: number; /** Of the successful write's span: the hand-on continues its trace. */ readonly traceparent: string }
  | { readonly ok: false; readonly attempts: number; readonly errorClass: ErrorClass; readonly error: Error };

export class WriteExecutor {
  private readonly circuit: DestinationCircuit;
  private readonly policy: RetryPolicy;
  private readonly budget: RetryBudget;
  private readonly refusedBackoff = new ExponentialBackoff({ ...REFUSED_RETRY_BACKOFF, random: Math.random });
  /** When a write to this destination last succeeded (ms since epoch); 0 before the first. */
  private lastSuccessAt = 0;

  constructor(private readonly options: WriteExecutorOptions) {
    const now = () => Date.now();
    const { retry, circuitBreaker } = options.destination;
    this.policy = new RetryPolicy({ ...retry, random: Math.random });
    this.budget = new RetryBudget({ ratio: retry.budgetRatio, windowMs: retry.budgetWindowMs, now });
    this.circuit = new DestinationCircuit({ ...circuitBreaker, now, onListenerError: (err) => options.logger.error({ err }, 'circuit listener failed') });
  }

  /** Closed / open / half-open of the destination's circuit (the worker pauses and resumes its partitions). */
  onCircuitChange(listener: CircuitListener): () => void {
    return this.circuit.onStateChange(listener);
  }

  /** Attempts the write until it succeeds or fails for good; rejects with AbandonedError when the role stops. */
  async write(request: WriteRequest): Promise<WriteOutcome> {
    const { metrics, logger, labels, signal } = this.options;
    /** When this event's first failing attempt started. */
    let failingSince: number | undefined;
    /** The next attempt is a retry, and waits for the retry budget first. */
    let retrying = false;
    return retryWhenAsked(async (attempt): Promise<WriteOutcome> => {
      if (attempt === 1) this.budget.recordAttempt();
      if (retrying) await this.untilBudgetAllows();
      retrying = false;
      let startedAt = Date.now();
      try {
        const traceparent = await this.circuit.execute(() => {
          startedAt = Date.now();
          return this.attempt(request, attempt);
        }, signal);
        this.lastSuccessAt = Date.now();
        return { ok: true, attempts: attempt, traceparent };
      } catch (error) {
        if (error instanceof AbandonedError) throw error;
        failingSince ??= startedAt;
        const decision = this.policy.decide(error, attempt);
        if (decision.action === 'give-up' && decision.reason === 'exhausted') {
          // Nothing written here since this event started failing: maybe the destination is
          // out and the circuit has not seen enough failures yet (an outage's first seconds).
          // Wait, without calling, until a write elsewhere succeeds or the circuit decides.
          if (this.circuit.state === 'closed' && this.lastSuccessAt < failingSince) await this.untilDestinationShowsItsState(failingSince);
          if (this.circuit.state !== 'closed') {
            // The destination is out, not this event: hold it like every other write until a
            // probe gets through, instead of dead-lettering events for an outage (docs/architecture.md §7, invariant 1).
            logger.info({ err: error, ...request.logFields, attempt }, 'attempts exhausted while the destination is out; held until the circuit closes');
            throw new TryAgain(0);
          }
        }
        if (decision.action === 'give-up') {
          logger.warn({ err: decision.error, ...request.logFields, attempt, reason: decision.reason }, 'write failed for good; dead-lettering');
          return { ok: false, attempts: attempt, errorClass: decision.errorClass, error: decision.error };
        }
        metrics.writes.inc({ ...labels, outcome: 'retried' });
        metrics.retries.inc(labels);
        logger.debug({ err: error, ...request.logFields, attempt, delayMs: decision.delayMs }, 'write failed; retrying');
        retrying = true;
        throw new TryAgain(decision.delayMs);
      }
    }, { signal });
  }

  /** One attempt that the circuit let through: counted, timed and traced. */
  private async attempt(request: WriteRequest, attempt: number): Promise<string> {
    const { metrics, labels } = this.options;
    const { event } = request;
    metrics.destinationCalls.inc(labels);
    const timer = metrics.writeDuration.startTimer(labels);
    try {
      const span = { destination: labels.destination, plan: event.plan, eventId: event.eventId, attempt, traceparent: event.traceparent };
      return await traceWrite(span, (child) =>
        this.writeWithTimeout({
          eventId: event.eventId,
          key: event.key,
          value: request.value ?? Buffer.alloc(0),
          headers: toHeaders({ ...event, traceparent: child }, attempt),
          ...withCarried(request.carriedHeaders),
          payload: request.payload,
        }),
      );
    } finally {
      timer();
    }
  }

  /** A refused retry waits another delay without spending an attempt; it is never dropped. */
  private async untilBudgetAllows(): Promise<void> {
    const { metrics, labels, signal } = this.options;
    let refused = 0;
    await pollUntil(
      () => {
        if (this.budget.tryAcquireRetry()) return true;
        refused += 1;
        metrics.retryBudgetRefusals.inc(labels);
        return false;
      },
      { signal, intervalMs: () => this.refusedBackoff.delayMs(Math.min(refused, 6)) },
    );
  }

  /** Resolves once a write succeeded after `since`, the circuit left `closed`, or the breaker's window passed. */
  private async untilDestinationShowsItsState(since: number): Promise<void> {
    await pollUntil(() => this.lastSuccessAt >= since || this.circuit.state !== 'closed', {
      signal: this.options.signal,
      intervalMs: DESTINATION_STATE_POLL_MS,
      until: since + this.options.destination.circuitBreaker.windowMs,
    });
  }

  /** The write, timed out after `timeoutMs` also when the sink ignores its signal. */
  private writeWithTimeout(record: SinkRecord): Promise<void> {
    const { timeoutMs } = this.options.destination;
    return withTimeout(timeoutMs, (signal) => this.options.sink.write(record, signal), () => new TimeoutError(timeoutMs));
  }
}
