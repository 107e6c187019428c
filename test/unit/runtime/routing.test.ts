import { BUCKETS, choosePlans, keyBucket, routingOf } from '../../../src/runtime/routing.js';
import { parseTopology } from '../../../src/topology/load.js';
import type { Plan } from '../../../src/topology/plan.js';

function plan(mode: string, extra = ''): Plan {
  const text = ['name: t', 'source: { topic: t.events, key: k, id: id }', `mode: ${mode}`, 'destinations:', '  - { name: a, sink: { type: kafka, topic: out.a } }', '  - { name: b, sink: { type: kafka, topic: out.b } }', extra].join('\n');
  return parseTopology(text, 't.yaml', {}).plan;
}

const keys = Array.from({ length: 20_000 }, (_, i) => `customer-${i}`);

describe('keyBucket', () => {
  test('stable and within range', () => {
    expect(keyBucket('customer-1')).toBe(keyBucket('customer-1'));
    const buckets = keys.slice(0, 1000).map(keyBucket);
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...buckets)).toBeLessThan(BUCKETS);
  });
});

describe('routingOf', () => {
  test('without rollout every key targets the plan', () => {
    const cascade = plan('cascade');
    const routing = routingOf(cascade);
    expect(routing.plans).toEqual([cascade]);
    expect(routing.target('x')).toBe(cascade);
  });

  test('a rollout sends a stable share of keys to the rollout plan, growing monotonically with the percentage', () => {
    const at10 = plan('cascade', 'rollout: { to: fanout, percent: 10 }');
    const at50 = plan('cascade', 'rollout: { to: fanout, percent: 50 }');
    const moved10 = keys.filter((k) => routingOf(at10).target(k).mode === 'fanout');
    const moved50 = new Set(keys.filter((k) => routingOf(at50).target(k).mode === 'fanout'));
    expect(moved10.length / keys.length).toBeCloseTo(0.1, 1);
    expect(moved50.size / keys.length).toBeCloseTo(0.5, 1);
    // Raising the percentage only adds keys: none moves back.
    expect(moved10.every((k) => moved50.has(k))).toBe(true);
  });

  test('draining plans come after the targets and are listed as draining', () => {
    const old = plan('cascade');
    const next = plan('fanout');
    const routing = routingOf(next, [old, next]);
    expect(routing.plans).toEqual([next, old]);
    expect(routing.draining).toEqual([old]);
  });
});

describe('choosePlans', () => {
  const old = plan('cascade');
  const next = plan('fanout');
  const routing = routingOf(next, [old]);

  test('a key busy in the old plan stays there; other keys move at once', () => {
    const chosen = choosePlans([{ key: 'k1' }, { key: 'k2' }, { key: 'k1' }], routing, new Map([[old.id, new Set(['k1'])]]));
    expect(chosen.map((p) => p.mode)).toEqual(['cascade', 'fanout', 'cascade']);
  });

  test('nothing busy anywhere: every key goes to its target', () => {
    expect(choosePlans([{ key: 'k1' }], routing, new Map()).map((p) => p.mode)).toEqual(['fanout']);
  });

  test('a key busy only in its own target plan stays in it', () => {
    expect(choosePlans([{ key: 'k1' }], routing, new Map([[next.id, new Set(['k1'])]])).map((p) => p.mode)).toEqual(['fanout']);
  });
});
