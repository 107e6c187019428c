import { describe, expect, it } from '@jest/globals';
import { ExponentialBackoff } from '../../../src/resilience/backoff.js';

const ALMOST_ONE = 1 - Number.EPSILON;

function backoff(random: () => number, initialDelayMs = 100, maxDelayMs = 10_000): ExponentialBackoff {
  return new ExponentialBackoff({ initialDelayMs, maxDelayMs, random });
}

describe('ExponentialBackoff (full jitter)', () => {
  it('doubles the ceiling per attempt, starting at initialDelayMs', () => {
    const top = backoff(() => ALMOST_ONE);
    expect([1, 2, 3, 4, 5].map((attempt) => top.delayMs(attempt))).toEqual([99, 199, 399, 799, 1599]);
  });

  it('draws uniformly below the ceiling: random 0 waits nothing, 0.5 waits half', () => {
    expect(backoff(() => 0).delayMs(3)).toBe(0);
    expect(backoff(() => 0.5).delayMs(3)).toBe(200);
  });

  it('caps the ceiling at maxDelayMs, also for huge attempt numbers', () => {
    const top = backoff(() => ALMOST_ONE, 100, 1_000);
    expect(top.delayMs(4)).toBe(799);
    expect(top.delayMs(5)).toBe(999);
    expect(top.delayMs(1_000)).toBe(999);
    expect(top.delayMs(Number.MAX_SAFE_INTEGER)).toBe(999);
  });

  it('waits nothing when initialDelayMs is 0, however many attempts', () => {
    expect(backoff(() => ALMOST_ONE, 0).delayMs(2_000)).toBe(0);
  });

  it('treats a server retryAfterMs hint as a floor', () => {
    const b = backoff(() => 0.5);
    expect(b.delayMs(1, 3_000)).toBe(3_000);
    expect(b.delayMs(7, 3_000)).toBe(3_200); // the computed delay is already longer
  });

  it('caps the hint at maxDelayMs: a key waits in memory and blocks its successors', () => {
    expect(backoff(() => 0, 100, 10_000).delayMs(1, 3_600_000)).toBe(10_000);
  });

  it('ignores a hint that is zero, negative or not a number', () => {
    const b = backoff(() => 0.5);
    expect(b.delayMs(1, 0)).toBe(50);
    expect(b.delayMs(1, -5)).toBe(50);
    expect(b.delayMs(1, Number.NaN)).toBe(50);
  });

  it('rejects attempt numbers below 1 and bad options', () => {
    const b = backoff(() => 0.5);
    expect(() => b.delayMs(0)).toThrow('attempt must be an integer >= 1');
    expect(() => b.delayMs(1.5)).toThrow(RangeError);
    expect(() => backoff(() => 0.5, -1)).toThrow('initialDelayMs');
    expect(() => backoff(() => 0.5, 100, Number.NaN)).toThrow('maxDelayMs');
  });
});
