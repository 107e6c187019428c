import { describe, expect, it } from '@jest/globals';
import { ConnectOnce } from '../../../src/kafka/connect-once.js';

describe('ConnectOnce', () => {
  it('connects once for calls that come while the connection is being made and after', async () => {
    let connects = 0;
    const once = new ConnectOnce(async () => void (connects += 1));
    await Promise.all([once.ready(), once.ready()]);
    await once.ready();
    expect(connects).toBe(1);
  });

  it('forgets a failed attempt, so the next call connects again', async () => {
    const outcomes = [new Error('broker down'), undefined];
    const once = new ConnectOnce(async () => {
      const outcome = outcomes.shift();
      if (outcome) throw outcome;
    });
    await expect(once.ready()).rejects.toThrow('broker down');
    await expect(once.ready()).resolves.toBeUndefined();
    expect(outcomes).toEqual([]);
  });

  it('forget says whether a connection had been started, and the next call connects again', async () => {
    let connects = 0;
    const once = new ConnectOnce(async () => void (connects += 1));
    expect(once.forget()).toBe(false);
    await once.ready();
    expect(once.forget()).toBe(true);
    expect(once.forget()).toBe(false);
    await once.ready();
    expect(connects).toBe(2);
  });
});
