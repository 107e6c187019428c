import { describe, expect, it } from '@jest/globals';
import { BrokenCircuitError } from 'cockatiel';
import { RetriesExhaustedError, TimeoutError } from '../../../src/resilience/error-class.js';
import { RetryPolicy, type RetryPolicyOptions } from '../../../src/resilience/retry-policy.js';
import { SinkError } from '../../../src/sinks/sink.js';

function policy(overrides: Partial<RetryPolicyOptions> = {}): RetryPolicy {
  return new RetryPolicy({ maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 10_000, random: () => 0.5, ...overrides });
}

describe('RetryPolicy', () => {
  it('retries retriable errors with a jittered exponential delay', () => {
    const p = policy();
    const error = new SinkError('503', 'retriable');
    expect([1, 2, 3, 4].map((attempt) => p.decide(error, attempt))).toEqual([
      { action: 'retry', delayMs: 50 },
      { action: 'retry', delayMs: 100 },
      { action: 'retry', delayMs: 200 },
      { action: 'retry', delayMs: 400 },
    ]);
  });

  it('retries timeouts, open circuits and unknown errors', () => {
    const p = policy();
    expect(p.decide(new TimeoutError(2_000), 1).action).toBe('retry');
    expect(p.decide(new Error('ECONNREFUSED'), 1).action).toBe('retry');
    expect(p.decide('thrown string', 1).action).toBe('retry');
    expect(p.decide(new BrokenCircuitError(), 1).action).toBe('retry');
  });

  it("honours the destination's retryAfterMs", () => {
    expect(policy().decide(new SinkError('429', 'retriable', { retryAfterMs: 2_500 }), 1)).toEqual({ action: 'retry', delayMs: 2_500 });
  });

  it('gives up after maxAttempts total attempts, keeping the last error as cause', () => {
    const error = new SinkError('503', 'retriable');
    const decision = policy({ maxAttempts: 3 }).decide(error, 3);
    expect(decision).toMatchObject({ action: 'give-up', reason: 'exhausted', errorClass: 'destination' });
    if (decision.action !== 'give-up') throw new Error('expected give-up');
    expect(decision.error).toBeInstanceOf(RetriesExhaustedError);
    expect(decision.error.cause).toBe(error);
    expect(decision.error.message).toBe('gave up after 3 attempts: 503');
  });

  it('classifies an exhausted timeout as timeout', () => {
    expect(policy({ maxAttempts: 2 }).decide(new TimeoutError(100), 2)).toMatchObject({ reason: 'exhausted', errorClass: 'timeout' });
  });

  it('gives up at once on a permanent error, as invalid, with the error itself', () => {
    const error = new SinkError('422 unprocessable', 'permanent');
    expect(policy().decide(error, 1)).toEqual({ action: 'give-up', reason: 'permanent', error, errorClass: 'invalid' });
  });

  it('with maxAttempts 1 never retries', () => {
    expect(policy({ maxAttempts: 1 }).decide(new Error('x'), 1)).toMatchObject({ action: 'give-up', reason: 'exhausted' });
  });

  it('wraps a thrown non-Error so the DLQ always has a message', () => {
    const decision = policy({ maxAttempts: 1 }).decide(42, 1);
    if (decision.action !== 'give-up') throw new Error('expected give-up');
    expect(decision.error.message).toBe('gave up after 1 attempt: 42');
  });

  it('ignores a retryAfterMs that is not a number', () => {
    const error = Object.assign(new Error('odd'), { retryAfterMs: '5000' });
    expect(policy().decide(error, 1)).toEqual({ action: 'retry', delayMs: 50 });
  });

  it('rejects a maxAttempts below 1', () => {
    expect(() => policy({ maxAttempts: 0 })).toThrow('maxAttempts must be an integer >= 1');
  });
});
