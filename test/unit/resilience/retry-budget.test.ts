import { describe, expect, it } from '@jest/globals';
import { RetryBudget, type RetryBudgetOptions } from '../../../src/resilience/retry-budget.js';

function budget(overrides: Partial<RetryBudgetOptions> = {}): { b: RetryBudget; advance: (ms: number) => void } {
  let t = 0;
  const b = new RetryBudget({ ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 0, now: () => t, ...overrides });
  return { b, advance: (ms) => (t += ms) };
}

function grants(b: RetryBudget, asks: number): number {
  let granted = 0;
  for (let i = 0; i < asks; i += 1) if (b.tryAcquireRetry()) granted += 1;
  return granted;
}

function attempts(b: RetryBudget, n: number): void {
  for (let i = 0; i < n; i += 1) b.recordAttempt();
}

describe('RetryBudget', () => {
  it('grants retries up to ratio x first attempts in the window', () => {
    const { b } = budget();
    attempts(b, 100);
    expect(grants(b, 50)).toBe(20);
  });

  it('refuses every retry with no traffic and no minimum allowance', () => {
    const { b } = budget();
    expect(b.tryAcquireRetry()).toBe(false);
  });

  it('lets a quiet destination retry through the per-second minimum (default 10/s)', () => {
    const { b } = budget({ minRetriesPerSecond: undefined });
    expect(grants(b, 150)).toBe(100); // 10/s over a 10 s window
    b.recordAttempt();
    expect(grants(b, 5)).toBe(0); // 0.2 of one attempt is not a whole retry yet
  });

  it('adds the minimum allowance to the ratio share', () => {
    const { b } = budget({ minRetriesPerSecond: 1, windowMs: 5_000 });
    attempts(b, 50);
    expect(grants(b, 100)).toBe(15); // 0.2 * 50 + 1/s * 5 s
  });

  it('counts only granted retries, so a refusal leaves the budget as it was', () => {
    const { b } = budget();
    attempts(b, 10);
    expect(grants(b, 10)).toBe(2);
    attempts(b, 5);
    expect(grants(b, 10)).toBe(1);
  });

  it('recovers as old retries slide out of the window', () => {
    const { b, advance } = budget();
    attempts(b, 100);
    expect(grants(b, 20)).toBe(20);
    advance(5_000);
    attempts(b, 100);
    expect(grants(b, 50)).toBe(20); // 0.2 * 200 = 40, 20 already spent
    advance(5_000); // the first 100 attempts and 20 retries left the window
    expect(grants(b, 50)).toBe(0); // 0.2 * 100 = 20, all spent in the second half
    advance(5_000);
    expect(grants(b, 50)).toBe(0);
    attempts(b, 10);
    expect(grants(b, 50)).toBe(2);
  });

  it('is not cheated by floating point: 0.57 x 100 grants 57', () => {
    const { b } = budget({ ratio: 0.57 });
    attempts(b, 100);
    expect(grants(b, 100)).toBe(57);
  });

  it('validates its options', () => {
    expect(() => budget({ ratio: -0.1 })).toThrow('ratio must be >= 0');
    expect(() => budget({ minRetriesPerSecond: -1 })).toThrow('minRetriesPerSecond');
    expect(() => budget({ windowMs: 0 })).toThrow('windowMs');
  });
});
