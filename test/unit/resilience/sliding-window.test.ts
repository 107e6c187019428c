import { describe, expect, it } from '@jest/globals';
import { SlidingWindowCounter } from '../../../src/resilience/sliding-window.js';

describe('SlidingWindowCounter', () => {
  it('sums what was added within the window', () => {
    const w = new SlidingWindowCounter(1_000);
    w.add(0);
    w.add(10, 2);
    w.add(450);
    expect(w.total(450)).toBe(4);
    expect(w.total(999)).toBe(4);
  });

  it('drops a bucket once the window has moved past it, in steps of windowMs / buckets', () => {
    const w = new SlidingWindowCounter(1_000); // 10 buckets of 100 ms
    w.add(0);
    w.add(150);
    expect(w.total(999)).toBe(2);
    expect(w.total(1_000)).toBe(1); // bucket [0, 100) left the window
    expect(w.total(1_099)).toBe(1);
    expect(w.total(1_100)).toBe(0);
  });

  it('reuses a slot for a later bucket without keeping the old count', () => {
    const w = new SlidingWindowCounter(1_000, 4);
    w.add(0, 5);
    w.add(1_000); // same slot, four buckets later
    expect(w.total(1_000)).toBe(1);
  });

  it('forgets everything after a long pause', () => {
    const w = new SlidingWindowCounter(1_000);
    w.add(0, 3);
    expect(w.total(1e12)).toBe(0);
  });

  it('keeps counting in the newest bucket when the clock steps back', () => {
    const w = new SlidingWindowCounter(1_000);
    w.add(5_000);
    w.add(4_000);
    expect(w.total(5_000)).toBe(2);
    expect(w.total(3_000)).toBe(2);
  });

  it('resets to empty', () => {
    const w = new SlidingWindowCounter(1_000);
    w.add(0, 7);
    w.reset();
    expect(w.total(0)).toBe(0);
    w.add(1);
    expect(w.total(1)).toBe(1);
  });

  it('validates its shape', () => {
    expect(() => new SlidingWindowCounter(0)).toThrow('windowMs must be > 0');
    expect(() => new SlidingWindowCounter(1_000, 0)).toThrow('buckets must be an integer >= 1');
    expect(() => new SlidingWindowCounter(1_000, 2.5)).toThrow(RangeError);
  });
});
