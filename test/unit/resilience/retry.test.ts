/**
 * The retry policies every infrastructure step goes through, on jest's fake timers (no real
 * waits): retryForever waits with full-jitter backoff, reports each failed try, stops at once
 * when the role stops during a wait without calling the step again (a try in progress
 * finishes and decides), and lets a `beforeRetry` failure end it; retryLimited gives up after its tries or at the first error it should not retry.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { AbandonedError } from '../../../src/resilience/abort.js';
import { TryAgain, retryForever, retryLimited, retryWhenAsked } from '../../../src/resilience/retry.js';

const ALMOST_ONE = 1 - Number.EPSILON;

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

/** A step that fails `failures` times with `error`, then returns `value`. */
function flaky<T>(failures: number, value: T, error: unknown = new Error('down')): { step: () => Promise<T>; calls: () => number } {
  let calls = 0;
  return {
    step: async () => {
      calls += 1;
      if (calls <= failures) throw error;
      return value;
    },
    calls: () => calls,
  };
}

describe('retryForever', () => {
  it('tries again after each failure, waiting the full-jitter ceiling (random at its top), until the step succeeds', async () => {
    const { step, calls } = flaky(4, 'ok');
    const retries: [number, number][] = [];
    const result = retryForever(step, {
      signal: new AbortController().signal,
      backoff: { initialDelayMs: 100, maxDelayMs: 500 },
      random: () => ALMOST_ONE,
      onRetry: (_error, attempt, waitMs) => retries.push([attempt, waitMs]),
    });
    await jest.advanceTimersByTimeAsync(99 + 199 + 399 + 499);
    await expect(result).resolves.toBe('ok');
    expect(calls()).toBe(5);
    expect(retries).toEqual([
      [1, 99],
      [2, 199],
      [3, 399],
      [4, 499],
    ]);
  });

  it('does not try again before its wait is over', async () => {
    const { step, calls } = flaky(1, 'ok');
    const result = retryForever(step, { signal: new AbortController().signal, backoff: { initialDelayMs: 1_000, maxDelayMs: 1_000 }, random: () => ALMOST_ONE, onRetry: () => undefined });
    await jest.advanceTimersByTimeAsync(998);
    expect(calls()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('ok');
    expect(calls()).toBe(2);
  });

  it('never gives up on its own: a thousand failures are a thousand waits', async () => {
    const { step, calls } = flaky(1_000, 'ok');
    const result = retryForever(step, { signal: new AbortController().signal, backoff: { initialDelayMs: 10, maxDelayMs: 10 }, random: () => ALMOST_ONE, onRetry: () => undefined });
    await jest.advanceTimersByTimeAsync(1_000 * 9);
    await expect(result).resolves.toBe('ok');
    expect(calls()).toBe(1_001);
  });

  it('stops at once with AbandonedError when the signal aborts during a wait, and does not call the step again', async () => {
    const { step, calls } = flaky(Number.POSITIVE_INFINITY, 'never');
    const stopping = new AbortController();
    const result = retryForever(step, { signal: stopping.signal, backoff: { initialDelayMs: 10_000, maxDelayMs: 10_000 }, random: () => ALMOST_ONE, onRetry: () => undefined });
    const settled = expect(result).rejects.toBeInstanceOf(AbandonedError);
    await jest.advanceTimersByTimeAsync(100);
    stopping.abort();
    await settled;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls()).toBe(1);
  });

  it('lets a try in progress when the signal aborts finish: its success is the result, its failure abandons', async () => {
    const stopping = new AbortController();
    let finish: (value: string) => void = () => undefined;
    const inProgress = retryForever(() => new Promise<string>((resolve) => (finish = resolve)), { signal: stopping.signal, backoff: { initialDelayMs: 1, maxDelayMs: 1 }, onRetry: () => undefined });
    stopping.abort();
    finish('written');
    await expect(inProgress).resolves.toBe('written');

    const stopping2 = new AbortController();
    let fail: (error: Error) => void = () => undefined;
    let calls = 0;
    const failing = retryForever(
      () => {
        calls += 1;
        return new Promise<string>((_, reject) => (fail = reject));
      },
      { signal: stopping2.signal, backoff: { initialDelayMs: 1, maxDelayMs: 1 }, onRetry: () => undefined },
    );
    stopping2.abort();
    fail(new Error('down'));
    await expect(failing).rejects.toBeInstanceOf(AbandonedError);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(1);
  });

  it('adds no listener to the role\'s signal for steps that succeed at once (Node warns beyond ten)', async () => {
    const stopping = new AbortController();
    const added = jest.spyOn(stopping.signal, 'addEventListener');
    const results = await Promise.all(Array.from({ length: 20 }, () => retryForever(async () => 'ok', { signal: stopping.signal, backoff: { initialDelayMs: 1, maxDelayMs: 1 }, onRetry: () => undefined })));
    expect(results).toHaveLength(20);
    expect(added).not.toHaveBeenCalled();
  });

  it('does not start when the signal has already aborted', async () => {
    const stopping = new AbortController();
    stopping.abort();
    const { step, calls } = flaky(0, 'ok');
    await expect(retryForever(step, { signal: stopping.signal, backoff: { initialDelayMs: 1, maxDelayMs: 1 }, onRetry: () => undefined })).rejects.toBeInstanceOf(AbandonedError);
    expect(calls()).toBe(0);
  });

  it('runs beforeRetry after each wait; what it throws ends the retries with that error', async () => {
    const { step, calls } = flaky(Number.POSITIVE_INFINITY, 'never');
    let beats = 0;
    const rebalancing = new Error('the group is rebalancing');
    const result = retryForever(step, {
      signal: new AbortController().signal,
      backoff: { initialDelayMs: 100, maxDelayMs: 100 },
      random: () => ALMOST_ONE,
      onRetry: () => undefined,
      beforeRetry: async () => {
        beats += 1;
        if (beats === 2) throw rebalancing;
      },
    });
    const settled = expect(result).rejects.toBe(rebalancing);
    await jest.advanceTimersByTimeAsync(99 * 2);
    await settled;
    expect(beats).toBe(2);
    expect(calls()).toBe(2);
  });
});

describe('retryLimited', () => {
  it('waits what waitMs says after each failed try and succeeds within its tries', async () => {
    const { step, calls } = flaky(2, 'ok');
    const waits: number[] = [];
    const result = retryLimited(step, { attempts: 3, waitMs: (attempt) => 1_000 * attempt, retryIf: () => true, onRetry: (_e, _a, waitMs) => waits.push(waitMs) });
    await jest.advanceTimersByTimeAsync(3_000);
    await expect(result).resolves.toBe('ok');
    expect(calls()).toBe(3);
    expect(waits).toEqual([1_000, 2_000]);
  });

  it('rejects with the last error once its tries are spent', async () => {
    const error = new Error('still down');
    const { step, calls } = flaky(Number.POSITIVE_INFINITY, 'never', error);
    const result = retryLimited(step, { attempts: 3, waitMs: () => 250, retryIf: () => true });
    const settled = expect(result).rejects.toBe(error);
    await jest.advanceTimersByTimeAsync(500);
    await settled;
    expect(calls()).toBe(3);
  });

  it('rejects at once with an error retryIf refuses', async () => {
    const invalid = new Error('invalid');
    const { step, calls } = flaky(Number.POSITIVE_INFINITY, 'never', invalid);
    await expect(retryLimited(step, { attempts: 20, waitMs: () => 250, retryIf: (e) => e !== invalid })).rejects.toBe(invalid);
    expect(calls()).toBe(1);
  });
});

describe('retryWhenAsked', () => {
  it('calls the step again after the wait its TryAgain asks for, numbering the tries, until it returns', async () => {
    const tries: number[] = [];
    const result = retryWhenAsked(async (attempt) => {
      tries.push(attempt);
      if (attempt < 3) throw new TryAgain(attempt * 1_000);
      return 'written';
    }, { signal: new AbortController().signal });
    await jest.advanceTimersByTimeAsync(2_999);
    expect(tries).toEqual([1, 2]);
    await jest.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('written');
    expect(tries).toEqual([1, 2, 3]);
  });

  it('ends at once with any other error the step throws', async () => {
    const deadLetter = new Error('for good');
    let calls = 0;
    await expect(
      retryWhenAsked(async () => {
        calls += 1;
        throw deadLetter;
      }, { signal: new AbortController().signal }),
    ).rejects.toBe(deadLetter);
    expect(calls).toBe(1);
  });

  it('stops at once with AbandonedError when the signal aborts during a wait, and does not call the step again', async () => {
    const stopping = new AbortController();
    let calls = 0;
    const result = retryWhenAsked(async () => {
      calls += 1;
      throw new TryAgain(10_000);
    }, { signal: stopping.signal });
    const settled = expect(result).rejects.toBeInstanceOf(AbandonedError);
    await jest.advanceTimersByTimeAsync(100);
    stopping.abort();
    await settled;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(1);
  });
});
