/**
 * Polling waits and timeouts on jest's fake timers (no real waits): pollUntil checks at once,
 * then after each interval (fixed or asked per check), gives up at its deadline, and stops
 * at once when the role stops without checking again; withTimeout rejects at the deadline
 * with the caller's error (also when the work ignores its signal, or rethrows the signal's
 * reason), aborts the work's signal, and passes the work's own result or error through.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { AbandonedError } from '../../../src/resilience/abort.js';
import { pollUntil } from '../../../src/resilience/poll.js';
import { withTimeout } from '../../../src/resilience/timeout.js';

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('pollUntil', () => {
  it('without a signal (a command, not a role) checks after each interval and gives up at its deadline', async () => {
    let checks = 0;
    const done = pollUntil(() => ((checks += 1), false), { intervalMs: 100, until: Date.now() + 250 });
    await jest.advanceTimersByTimeAsync(300);
    await expect(done).resolves.toBe(false);
    expect(checks).toBe(3);
  });

  it('rejects with what the condition threw, without checking again', async () => {
    const hopeless = new Error('no progress');
    let checks = 0;
    const done = pollUntil(() => {
      checks += 1;
      if (checks === 2) throw hopeless;
      return false;
    }, { intervalMs: 100 });
    const settled = expect(done).rejects.toBe(hopeless);
    await jest.advanceTimersByTimeAsync(1_000);
    await settled;
    expect(checks).toBe(2);
  });

  it('resolves true at once when the condition already holds', async () => {
    let checks = 0;
    await expect(pollUntil(() => ((checks += 1), true), { signal: new AbortController().signal, intervalMs: 1_000 })).resolves.toBe(true);
    expect(checks).toBe(1);
  });

  it('checks again after each interval until the condition holds', async () => {
    let checks = 0;
    const done = pollUntil(() => (checks += 1) === 4, { signal: new AbortController().signal, intervalMs: 100 });
    await jest.advanceTimersByTimeAsync(299);
    expect(checks).toBe(3);
    await jest.advanceTimersByTimeAsync(1);
    await expect(done).resolves.toBe(true);
    expect(checks).toBe(4);
  });

  it('asks for the next interval after each check that failed', async () => {
    const asked: number[] = [];
    let checks = 0;
    const done = pollUntil(() => (checks += 1) === 3, {
      signal: new AbortController().signal,
      intervalMs: () => {
        asked.push(checks);
        return checks * 1_000;
      },
    });
    await jest.advanceTimersByTimeAsync(1_000 + 2_000);
    await expect(done).resolves.toBe(true);
    expect(asked).toEqual([1, 2]);
  });

  it('resolves false once its deadline passed', async () => {
    let checks = 0;
    const done = pollUntil(() => ((checks += 1), false), { signal: new AbortController().signal, intervalMs: 100, until: Date.now() + 450 });
    await jest.advanceTimersByTimeAsync(500);
    await expect(done).resolves.toBe(false);
    expect(checks).toBe(5);
  });

  it('stops at once with AbandonedError when the signal aborts, and never checks again', async () => {
    let checks = 0;
    const stopping = new AbortController();
    const done = pollUntil(() => ((checks += 1), false), { signal: stopping.signal, intervalMs: 10_000 });
    const settled = expect(done).rejects.toBeInstanceOf(AbandonedError);
    stopping.abort();
    await settled;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(checks).toBe(1);
  });
});

describe('withTimeout', () => {
  class Late extends Error {}

  it('passes the result through when the work is in time', async () => {
    await expect(withTimeout(1_000, async () => 'ok', () => new Late())).resolves.toBe('ok');
  });

  it("passes the work's own error through", async () => {
    const refused = new Error('refused');
    await expect(withTimeout(1_000, async () => Promise.reject(refused), () => new Late())).rejects.toBe(refused);
  });

  it('rejects at the deadline with the given error although the work ignores its signal', async () => {
    const done = withTimeout(1_000, () => new Promise<never>(() => undefined), () => new Late());
    const settled = expect(done).rejects.toBeInstanceOf(Late);
    await jest.advanceTimersByTimeAsync(1_000);
    await settled;
  });

  it("aborts the work's signal at the deadline; a work that rethrows the signal's reason is timed out too", async () => {
    let seen: AbortSignal | undefined;
    const done = withTimeout(
      500,
      (signal) =>
        new Promise<never>((_, reject) => {
          seen = signal;
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      () => new Late(),
    );
    const settled = expect(done).rejects.toBeInstanceOf(Late);
    await jest.advanceTimersByTimeAsync(499);
    expect(seen?.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await settled;
    expect(seen?.aborted).toBe(true);
  });

  it('leaves the signal alone after the work finished in time', async () => {
    let seen: AbortSignal | undefined;
    await withTimeout(500, async (signal) => {
      seen = signal;
    }, () => new Late());
    await jest.advanceTimersByTimeAsync(1_000);
    expect(seen?.aborted).toBe(false);
  });
});
