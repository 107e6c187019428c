import { describe, expect, it } from '@jest/globals';
import { BrokenCircuitError, IsolatedCircuitError } from 'cockatiel';
import {
  RetriesExhaustedError,
  TimeoutError,
  errorClassOf,
  isRetriable,
} from '../../../src/resilience/error-class.js';
import { SinkError } from '../../../src/sinks/sink.js';

describe('errorClassOf', () => {
  it.each([
    ['a permanent SinkError (the event is at fault)', new SinkError('400 bad request', 'permanent'), 'invalid'],
    ['a retriable SinkError', new SinkError('503', 'retriable'), 'destination'],
    ['a TimeoutError', new TimeoutError(2_000), 'timeout'],
    ["AbortSignal.timeout()'s DOMException", new DOMException('signal timed out', 'TimeoutError'), 'timeout'],
    ["cockatiel's BrokenCircuitError", new BrokenCircuitError(), 'circuit-open'],
    ["cockatiel's IsolatedCircuitError", new IsolatedCircuitError(), 'circuit-open'],
    ['an unknown Error', new Error('ECONNRESET'), 'destination'],
    ['something thrown that is not an Error', 'boom', 'destination'],
    ['an abort that is not a timeout', new DOMException('aborted', 'AbortError'), 'destination'],
  ])('classifies %s', (_what, error, expected) => {
    expect(errorClassOf(error)).toBe(expected);
  });

  it('classifies exhausted retries by the error of the last attempt', () => {
    expect(errorClassOf(new RetriesExhaustedError(5, new TimeoutError(100)))).toBe('timeout');
    expect(errorClassOf(new RetriesExhaustedError(5, new SinkError('503', 'retriable')))).toBe('destination');
  });

  it('reads the kind, never the message', () => {
    expect(errorClassOf(new Error('timeout'))).toBe('destination');
    expect(errorClassOf(new SinkError('timeout', 'permanent'))).toBe('invalid');
  });
});

describe('isRetriable', () => {
  it('says no only for the event’s own fault', () => {
    expect(isRetriable(new SinkError('400', 'permanent'))).toBe(false);
    expect(isRetriable(new SinkError('503', 'retriable'))).toBe(true);
    expect(isRetriable(new TimeoutError(100))).toBe(true);
    expect(isRetriable(new BrokenCircuitError())).toBe(true);
    expect(isRetriable(new Error('?'))).toBe(true);
  });
});

describe('error types', () => {
  it('carry their kind, name and details', () => {
    const cause = new Error('socket hang up');
    const timeout = new TimeoutError(2_000, { cause });
    expect(timeout).toMatchObject({ name: 'TimeoutError', kind: 'timeout', timeoutMs: 2_000, cause, message: 'no answer within 2000 ms' });
    expect(new TimeoutError(5)).not.toHaveProperty('cause');
  });

  it('keep the original error as cause when retries are exhausted', () => {
    const last = new SinkError('503 unavailable', 'retriable');
    const exhausted = new RetriesExhaustedError(5, last);
    expect(exhausted.cause).toBe(last);
    expect(exhausted.attempts).toBe(5);
    expect(exhausted.message).toBe('gave up after 5 attempts: 503 unavailable');
    expect(new RetriesExhaustedError(1, 'boom').message).toBe('gave up after 1 attempt: boom');
  });
});
