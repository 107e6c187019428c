/**
 * Waiting for a dependency at start, on jest's fake timers (no real waits): an outage is
 * waited out with one log line per try and a line when it answers; a mistake is thrown at
 * once; the bound ends in a RuntimeFailure naming what and the setting; a stop ends a wait
 * at once with AbandonedError, without another try.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { RuntimeFailure } from '../../../src/errors.js';
import { createLogger } from '../../../src/observability/logger.js';
import { AbandonedError } from '../../../src/resilience/abort.js';
import { waitAtStart } from '../../../src/runtime/start-wait.js';

class Outage extends Error {}
const isOutage = (error: unknown) => error instanceof Outage;

function logged(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

/** Fails with `error` `failures` times, then returns 'up'. */
function dependency(failures: number, error: Error = new Outage('connect ECONNREFUSED 127.0.0.1:6379')): { attempt: () => Promise<string>; tries: () => number } {
  let tries = 0;
  return {
    attempt: async () => {
      tries += 1;
      if (tries <= failures) throw error;
      return 'up';
    },
    tries: () => tries,
  };
}

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('waitAtStart', () => {
  it('waits out an outage, logging each try and the moment it answers', async () => {
    const { logger, lines } = logged();
    const { attempt, tries } = dependency(3);
    const result = waitAtStart('Redis at 127.0.0.1:6379', attempt, isOutage, { timeoutMs: 0, logger });
    await jest.advanceTimersByTimeAsync(60_000);
    await expect(result).resolves.toBe('up');
    expect(tries()).toBe(4);
    const waits = lines.filter((l) => l.msg === 'waiting for Redis at 127.0.0.1:6379: connect ECONNREFUSED 127.0.0.1:6379');
    expect(waits.map((l) => l.attempt)).toEqual([1, 2, 3]);
    expect(lines.some((l) => l.msg === 'Redis at 127.0.0.1:6379 answers; starting')).toBe(true);
  });

  it('throws a mistake at once, without waiting', async () => {
    const mistake = new Error('relation "ledger" does not exist');
    const { attempt, tries } = dependency(1, mistake);
    await expect(waitAtStart('destination ledger', attempt, isOutage, { timeoutMs: 0, logger: logged().logger })).rejects.toBe(mistake);
    expect(tries()).toBe(1);
  });

  it('gives up after timeoutMs with a RuntimeFailure naming what it waited for and the setting', async () => {
    const { attempt } = dependency(Number.POSITIVE_INFINITY);
    const result = waitAtStart('Kafka at 127.0.0.1:9092', attempt, isOutage, { timeoutMs: 30_000, logger: logged().logger });
    const settled = expect(result).rejects.toThrow(RuntimeFailure);
    await jest.advanceTimersByTimeAsync(31_000);
    await settled;
    await expect(result).rejects.toThrow(/Kafka at 127\.0\.0\.1:9092 did not answer within 30 s of start \(connect ECONNREFUSED .*FLOWYARD_START_TIMEOUT_MS=30000/);
  });

  it('ends a wait at once when the process stops, and tries no more', async () => {
    const stopping = new AbortController();
    const { attempt, tries } = dependency(Number.POSITIVE_INFINITY);
    const result = waitAtStart('Redis', attempt, isOutage, { timeoutMs: 0, logger: logged().logger, signal: stopping.signal });
    const settled = expect(result).rejects.toBeInstanceOf(AbandonedError);
    await jest.advanceTimersByTimeAsync(10);
    stopping.abort();
    await settled;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(tries()).toBe(1);
  });
});
