/**
 * The destination's circuit breaker: WindowBreaker's rules (pure, on an injected clock) and
 * DestinationCircuit, cockatiel's CircuitBreakerPolicy composed with the wait while open, on
 * jest's fake timers (cockatiel reads Date.now(), which they move; no real waits).
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { BrokenCircuitError, CircuitState } from 'cockatiel';
import { AbandonedError } from '../../../src/resilience/abort.js';
import { DestinationCircuit, WindowBreaker, countsAgainstDestination, type CircuitStateName, type DestinationCircuitOptions, type WindowBreakerOptions } from '../../../src/resilience/circuit-breaker.js';
import { TimeoutError } from '../../../src/resilience/error-class.js';
import { SinkError } from '../../../src/sinks/sink.js';

const destinationDown = new SinkError('503 unavailable', 'retriable');
const badEvent = new SinkError('400 bad request', 'permanent');
const { Closed, HalfOpen, Open } = CircuitState;

function windowBreaker(overrides: Partial<WindowBreakerOptions> = {}) {
  let t = 0;
  const b = new WindowBreaker({ failureRatio: 0.5, minRequests: 4, windowMs: 10_000, now: () => t, ...overrides });
  return {
    b,
    advance: (ms: number) => (t += ms),
    /** The closed circuit's verdict after each of `n` failures. */
    fail: (n: number) => Array.from({ length: n }, () => b.failure(Closed)),
    succeed: (n: number) => {
      for (let i = 0; i < n; i += 1) b.success(Closed);
    },
  };
}

describe('WindowBreaker', () => {
  it('keeps the circuit closed below minRequests, even if everything fails', () => {
    expect(windowBreaker().fail(3)).toEqual([false, false, false]);
  });

  it('opens when requests >= minRequests and failures / requests >= failureRatio', () => {
    const { succeed, fail } = windowBreaker();
    succeed(2);
    expect(fail(2)).toEqual([false, true]); // 4 requests, 2 failures: 0.5
  });

  it('stays closed below the failure ratio', () => {
    const { succeed, fail } = windowBreaker();
    succeed(7);
    expect(fail(3)).toEqual([false, false, false]); // 0.3
  });

  it('forgets requests that slid out of the window', () => {
    const { fail, advance } = windowBreaker({ minRequests: 2, failureRatio: 1 });
    fail(1);
    advance(10_000);
    expect(fail(2)).toEqual([false, true]);
  });

  it('with failureRatio 0 opens on the first failure once minRequests were seen', () => {
    const { succeed, fail } = windowBreaker({ failureRatio: 0, minRequests: 3 });
    succeed(5);
    expect(fail(1)).toEqual([true]);
  });

  it('with failureRatio 1 opens only when every request in the window failed', () => {
    const { succeed, fail } = windowBreaker({ failureRatio: 1, minRequests: 2 });
    succeed(1);
    expect(fail(3)).toEqual([false, false, false]);
  });

  it('opens again on any failure while not closed (the probe failed)', () => {
    const { b } = windowBreaker();
    expect(b.failure(HalfOpen)).toBe(true);
    expect(b.failure(Open)).toBe(true);
  });

  it('starts a fresh window when the probe succeeds: failures from before the break no longer count', () => {
    const { b, fail } = windowBreaker();
    expect(fail(4)).toEqual([false, false, false, true]);
    b.success(HalfOpen);
    expect(fail(3)).toEqual([false, false, false]);
  });

  it('validates its options', () => {
    expect(() => windowBreaker({ failureRatio: 1.5 })).toThrow('failureRatio must be in [0, 1]');
    expect(() => windowBreaker({ failureRatio: Number.NaN })).toThrow('failureRatio');
    expect(() => windowBreaker({ minRequests: 0 })).toThrow('minRequests must be an integer >= 1');
    expect(() => windowBreaker({ minRequests: 1.5 })).toThrow('minRequests must be an integer >= 1');
    expect(() => windowBreaker({ windowMs: 0 })).toThrow('windowMs');
  });
});

describe('countsAgainstDestination', () => {
  it.each([
    ['a destination error', destinationDown, true],
    ['a timeout', new TimeoutError(2_000), true],
    ['an unknown error', new Error('ECONNRESET'), true],
    ["an invalid event's permanent error (the destination answered)", badEvent, false],
    ['an open circuit (nothing was sent)', new BrokenCircuitError(), false],
  ])('%s', (_what, error, counts) => {
    expect(countsAgainstDestination(error)).toBe(counts);
  });
});

describe('DestinationCircuit', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  const never = new AbortController().signal;

  function circuit(overrides: Partial<DestinationCircuitOptions> = {}) {
    const c = new DestinationCircuit({ failureRatio: 0.5, minRequests: 4, windowMs: 10_000, halfOpenAfterMs: 30_000, now: () => Date.now(), ...overrides });
    const states: CircuitStateName[] = [];
    c.onStateChange((state) => states.push(state));
    let calls = 0;
    /** A write through the circuit that calls the destination with `outcome`. */
    const write = (outcome: unknown = 'ok', signal = never) =>
      c.execute(async () => {
        calls += 1;
        if (outcome instanceof Error) throw outcome;
        return outcome;
      }, signal);
    const open = async () => {
      for (let i = 0; i < 4; i += 1) await expect(write(destinationDown)).rejects.toBe(destinationDown);
      expect(c.state).toBe('open');
    };
    return { c, states, write, open, calls: () => calls };
  }

  it('passes results and errors through while closed, and opens on the failure ratio', async () => {
    const { c, states, write } = circuit();
    await expect(write('done')).resolves.toBe('done');
    await expect(write(badEvent)).rejects.toBe(badEvent);
    expect(c.state).toBe('closed');
    await expect(write(destinationDown)).rejects.toBe(destinationDown);
    expect(c.state).toBe('closed'); // 3 requests
    await expect(write(destinationDown)).rejects.toBe(destinationDown);
    expect(c.state).toBe('open'); // 4 requests, 2 failures: 0.5
    expect(states).toEqual(['open']);
  });

  it("counts an invalid event's permanent error as an answer, not as a failure", async () => {
    const { c, write } = circuit();
    for (let i = 0; i < 10; i += 1) await expect(write(badEvent)).rejects.toBe(badEvent);
    for (let i = 0; i < 3; i += 1) await expect(write(destinationDown)).rejects.toBe(destinationDown);
    expect(c.state).toBe('closed'); // 13 requests, 3 failures
  });

  it('holds a write while open without calling the destination, then sends it as the probe after halfOpenAfterMs; success closes', async () => {
    const { c, states, write, open, calls } = circuit();
    await open();
    const held = write('probe');
    await jest.advanceTimersByTimeAsync(29_999);
    expect(calls()).toBe(4);
    await jest.advanceTimersByTimeAsync(1);
    await expect(held).resolves.toBe('probe');
    expect(calls()).toBe(5);
    expect(c.state).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
    // A fresh window: three failures are fewer than minRequests.
    for (let i = 0; i < 3; i += 1) await expect(write(destinationDown)).rejects.toBe(destinationDown);
    expect(c.state).toBe('closed');
  });

  it('lets one probe through; the other writes wait for its result and then go out', async () => {
    const { c, write, open } = circuit();
    await open();
    await jest.advanceTimersByTimeAsync(30_000);
    let finishProbe: (value: string) => void = () => undefined;
    const probe = c.execute(() => new Promise<string>((resolve) => (finishProbe = resolve)), never);
    await jest.advanceTimersByTimeAsync(0);
    expect(c.state).toBe('half-open');
    let waiterCalled = false;
    const waiter = c.execute(async () => {
      waiterCalled = true;
      return 'after';
    }, never);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(waiterCalled).toBe(false);
    finishProbe('probe');
    await expect(probe).resolves.toBe('probe');
    await expect(waiter).resolves.toBe('after');
    expect(c.state).toBe('closed');
    await expect(write('next')).resolves.toBe('next');
  });

  it('opens again when the probe fails, for another halfOpenAfterMs; the held write is tried then', async () => {
    const { c, states, write, open, calls } = circuit();
    await open();
    await jest.advanceTimersByTimeAsync(30_000);
    await expect(write(new TimeoutError(500))).rejects.toBeInstanceOf(TimeoutError);
    expect(c.state).toBe('open');
    const held = write('later');
    await jest.advanceTimersByTimeAsync(29_999);
    expect(calls()).toBe(5);
    await jest.advanceTimersByTimeAsync(1);
    await expect(held).resolves.toBe('later');
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('closes when the probe meets an invalid event: the destination answered', async () => {
    const { c, write, open } = circuit();
    await open();
    await jest.advanceTimersByTimeAsync(30_000);
    await expect(write(badEvent)).rejects.toBe(badEvent);
    expect(c.state).toBe('closed');
  });

  it('ends a wait while open with AbandonedError when the role stops, without calling the destination', async () => {
    const { write, open, calls } = circuit();
    await open();
    const stopping = new AbortController();
    const held = write('never', stopping.signal);
    const settled = expect(held).rejects.toBeInstanceOf(AbandonedError);
    await jest.advanceTimersByTimeAsync(1_000);
    stopping.abort();
    await settled;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls()).toBe(4);
  });

  it('survives a listener that throws, reports it, still calls the others, and the write keeps its own outcome', async () => {
    const reported: unknown[] = [];
    const boom = new Error('listener bug');
    const c = new DestinationCircuit({ failureRatio: 1, minRequests: 1, windowMs: 1_000, halfOpenAfterMs: 100, now: () => Date.now(), onListenerError: (error) => reported.push(error) });
    c.onStateChange(() => {
      throw boom;
    });
    const seen: CircuitStateName[] = [];
    c.onStateChange((state) => seen.push(state));
    await expect(c.execute(() => Promise.reject(destinationDown), never)).rejects.toBe(destinationDown);
    const probe = c.execute(async () => 'ok', never);
    await jest.advanceTimersByTimeAsync(100);
    await expect(probe).resolves.toBe('ok');
    expect(seen).toEqual(['open', 'half-open', 'closed']);
    expect(reported).toEqual([boom, boom, boom]);
  });

  it('survives a throwing listener without an error reporter, and a reporter that throws', async () => {
    for (const onListenerError of [undefined, () => { throw new Error('reporter bug'); }]) {
      const c = new DestinationCircuit({ failureRatio: 1, minRequests: 1, windowMs: 1_000, halfOpenAfterMs: 100, now: () => Date.now(), onListenerError });
      c.onStateChange(() => {
        throw new Error('listener bug');
      });
      await expect(c.execute(() => Promise.reject(destinationDown), never)).rejects.toBe(destinationDown);
      expect(c.state).toBe('open');
    }
  });

  it('stops calling a listener after unsubscribe', async () => {
    const { c, write, open } = circuit();
    const seen: CircuitStateName[] = [];
    const unsubscribe = c.onStateChange((state) => seen.push(state));
    await open();
    unsubscribe();
    await jest.advanceTimersByTimeAsync(30_000);
    await write('probe');
    expect(c.state).toBe('closed');
    expect(seen).toEqual(['open']);
  });

  it('validates halfOpenAfterMs and the window options', () => {
    expect(() => circuit({ halfOpenAfterMs: -1 })).toThrow('halfOpenAfterMs must be >= 0');
    expect(() => circuit({ failureRatio: 2 })).toThrow('failureRatio must be in [0, 1]');
  });
});
