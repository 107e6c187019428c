import { describe, expect, it } from '@jest/globals';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitEvent } from '../../../src/resilience/circuit-breaker.js';
import { CircuitOpenError, TimeoutError } from '../../../src/resilience/error-class.js';
import { SinkError } from '../../../src/sinks/sink.js';

const destinationDown = new SinkError('503 unavailable', 'retriable');
const badEvent = new SinkError('400 bad request', 'permanent');

function breaker(overrides: Partial<CircuitBreakerOptions> = {}) {
  let t = 0;
  const events: CircuitEvent[] = [];
  const b = new CircuitBreaker({
    failureRatio: 0.5,
    minRequests: 4,
    windowMs: 10_000,
    halfOpenAfterMs: 30_000,
    now: () => t,
    ...overrides,
  });
  b.onStateChange((event) => events.push(event));
  return {
    b,
    events,
    types: () => events.map((e) => e.type),
    advance: (ms: number) => (t += ms),
    fail: (n: number, error: unknown = destinationDown) => {
      for (let i = 0; i < n; i += 1) b.recordFailure(error);
    },
    succeed: (n: number) => {
      for (let i = 0; i < n; i += 1) b.recordSuccess();
    },
  };
}

describe('CircuitBreaker closed', () => {
  it('stays closed below minRequests, even if everything fails', () => {
    const { b, fail } = breaker();
    fail(3);
    expect(b.state).toEqual({ name: 'closed' });
    expect(b.canAttempt()).toBe(true);
  });

  it('opens when requests >= minRequests and failures / requests >= failureRatio', () => {
    const { b, succeed, fail, advance, events } = breaker();
    advance(1_000);
    succeed(2);
    fail(1);
    expect(b.state.name).toBe('closed'); // 3 requests
    fail(1); // 4 requests, 2 failures: 0.5
    expect(b.state).toEqual({ name: 'open', openedAt: 1_000, halfOpenAt: 31_000 });
    expect(events).toEqual([{ type: 'break', state: b.state }]);
    expect(b.canAttempt()).toBe(false);
  });

  it('stays closed below the failure ratio', () => {
    const { b, succeed, fail } = breaker();
    succeed(7);
    fail(3); // 0.3
    expect(b.state.name).toBe('closed');
  });

  it('counts timeouts like destination errors', () => {
    const { b, fail } = breaker();
    fail(4, new TimeoutError(2_000));
    expect(b.state.name).toBe('open');
  });

  it("counts an invalid event's permanent error as an answer, not as a failure", () => {
    const { b, fail } = breaker();
    fail(10, badEvent);
    fail(3);
    expect(b.state.name).toBe('closed'); // 13 requests, 3 failures
  });

  it('ignores circuit-open errors: nothing was sent', () => {
    const { b, fail } = breaker({ minRequests: 1, failureRatio: 1 });
    fail(5, new CircuitOpenError('ledger', 1_000));
    expect(b.state.name).toBe('closed');
    fail(1);
    expect(b.state.name).toBe('open');
  });

  it('forgets failures that slid out of the window', () => {
    const { b, fail, advance } = breaker({ minRequests: 2, failureRatio: 1 });
    fail(1);
    advance(10_000);
    fail(1);
    expect(b.state.name).toBe('closed');
    fail(1);
    expect(b.state.name).toBe('open');
  });

  it('with failureRatio 0 opens on the first failure once minRequests were seen', () => {
    const { b, succeed, fail } = breaker({ failureRatio: 0, minRequests: 3 });
    succeed(5);
    expect(b.state.name).toBe('closed');
    fail(1);
    expect(b.state.name).toBe('open');
  });
});

describe('CircuitBreaker open and half-open', () => {
  it('lets exactly one probe through once halfOpenAfterMs passed', () => {
    const { b, fail, advance, types } = breaker();
    fail(4);
    advance(29_999);
    expect(b.canAttempt()).toBe(false);
    advance(1);
    expect(b.canAttempt()).toBe(true);
    expect(b.state).toEqual({ name: 'half-open', since: 30_000 });
    expect(b.canAttempt()).toBe(false);
    expect(types()).toEqual(['break', 'half-open']);
  });

  it('closes on probe success with a fresh window', () => {
    const { b, fail, advance, types } = breaker();
    fail(4);
    advance(30_000);
    b.canAttempt();
    b.recordSuccess();
    expect(b.state).toEqual({ name: 'closed' });
    expect(types()).toEqual(['break', 'half-open', 'reset']);
    fail(3); // the four failures before the break no longer count
    expect(b.state.name).toBe('closed');
  });

  it('closes when the probe meets an invalid event: the destination answered', () => {
    const { b, fail, advance } = breaker();
    fail(4);
    advance(30_000);
    b.canAttempt();
    b.recordFailure(badEvent);
    expect(b.state.name).toBe('closed');
  });

  it('opens again on probe failure, for another halfOpenAfterMs', () => {
    const { b, fail, advance, types } = breaker();
    fail(4);
    advance(30_000);
    b.canAttempt();
    advance(500);
    b.recordFailure(new TimeoutError(500));
    expect(b.state).toEqual({ name: 'open', openedAt: 30_500, halfOpenAt: 60_500 });
    expect(types()).toEqual(['break', 'half-open', 'break']);
    expect(b.canAttempt()).toBe(false);
  });

  it('ignores results reported while open: they belong to writes started before the break', () => {
    const { b, fail, succeed, types } = breaker();
    fail(4);
    succeed(3);
    fail(3);
    expect(b.state.name).toBe('open');
    expect(types()).toEqual(['break']);
  });

  it('ignores a circuit-open error in half-open', () => {
    const { b, fail, advance } = breaker();
    fail(4);
    advance(30_000);
    b.canAttempt();
    b.recordFailure(new CircuitOpenError('ledger', 0));
    expect(b.state.name).toBe('half-open');
  });
});

describe('CircuitBreaker listeners', () => {
  it('survives a listener that throws, reports it and still calls the others', () => {
    const reported: unknown[] = [];
    let t = 0;
    const b = new CircuitBreaker({
      failureRatio: 1,
      minRequests: 1,
      windowMs: 1_000,
      halfOpenAfterMs: 100,
      now: () => t,
      onListenerError: (error) => reported.push(error),
    });
    const seen: string[] = [];
    const boom = new Error('listener bug');
    b.onStateChange(() => {
      throw boom;
    });
    b.onStateChange((event) => seen.push(event.type));

    b.recordFailure(destinationDown);
    expect(b.state.name).toBe('open');
    t = 100;
    expect(b.canAttempt()).toBe(true);
    b.recordSuccess();
    expect(b.state.name).toBe('closed');
    expect(seen).toEqual(['break', 'half-open', 'reset']);
    expect(reported).toEqual([boom, boom, boom]);
  });

  it('survives a throwing listener without an error reporter, and a reporter that throws', () => {
    for (const onListenerError of [undefined, () => { throw new Error('reporter bug'); }]) {
      const b = new CircuitBreaker({ failureRatio: 1, minRequests: 1, windowMs: 1_000, halfOpenAfterMs: 100, now: () => 0, onListenerError });
      b.onStateChange(() => {
        throw new Error('listener bug');
      });
      expect(() => b.recordFailure(destinationDown)).not.toThrow();
      expect(b.state.name).toBe('open');
    }
  });

  it('stops calling a listener after unsubscribe, also when it unsubscribes itself mid-event', () => {
    const { b, fail, advance } = breaker();
    const seen: string[] = [];
    const unsubscribe = b.onStateChange((event) => {
      seen.push(event.type);
      unsubscribe();
    });
    const alsoSeen: string[] = [];
    b.onStateChange((event) => alsoSeen.push(event.type));
    fail(4);
    advance(30_000);
    b.canAttempt();
    expect(seen).toEqual(['break']);
    expect(alsoSeen).toEqual(['break', 'half-open']);
  });

  it('has the new state in place when listeners run, so a listener may query it', () => {
    const { b, fail } = breaker();
    const statesSeen: string[] = [];
    b.onStateChange(() => statesSeen.push(`${b.state.name}:${b.canAttempt()}`));
    fail(4);
    expect(statesSeen).toEqual(['open:false']);
  });
});

describe('CircuitBreaker options', () => {
  it('validates them', () => {
    expect(() => breaker({ failureRatio: 1.5 })).toThrow('failureRatio must be in [0, 1]');
    expect(() => breaker({ failureRatio: Number.NaN })).toThrow('failureRatio');
    expect(() => breaker({ minRequests: 0 })).toThrow('minRequests must be an integer >= 1');
    expect(() => breaker({ halfOpenAfterMs: -1 })).toThrow('halfOpenAfterMs');
    expect(() => breaker({ windowMs: 0 })).toThrow('windowMs');
  });
});
