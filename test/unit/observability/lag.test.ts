import { lagTargets, partitionLag } from '../../../src/observability/lag.js';
import { parseTopology } from '../../../src/topology/load.js';

describe('partitionLag', () => {
  test('high watermark minus the committed offset', () => {
    expect(partitionLag({ low: '0', high: '120' }, '100')).toBe(20);
    expect(partitionLag({ low: '0', high: '120' }, '120')).toBe(0);
  });

  test('a group that never committed owes everything still retained', () => {
    expect(partitionLag({ low: '30', high: '120' }, '-1')).toBe(90);
    expect(partitionLag({ low: '0', high: '0' }, '-1')).toBe(0);
  });

  test('a commit below the low watermark (retention deleted records) owes only what is left', () => {
    expect(partitionLag({ low: '50', high: '60' }, '10')).toBe(10);
  });

  test('offsets beyond 2^53 are exact', () => {
    expect(partitionLag({ low: '0', high: '9007199254740999' }, '9007199254740990')).toBe(9);
  });
});

describe('lagTargets', () => {
  const text = [
    'name: shop',
    'source: { topic: shop.events, key: k, id: id }',
    'mode: fanout',
    'destinations:',
    '  - { name: a, sink: { type: kafka, topic: out.a }, compensate: { type: kafka, topic: out.a-undo } }',
    '  - { name: b, sink: { type: kafka, topic: out.b } }',
  ].join('\n');
  const { plan } = parseTopology(text, 'shop.yaml', {});

  test('one target per consumer group of the plan, labelled with topology and plan id', () => {
    const targets = lagTargets(plan);
    expect(targets.map((t) => t.group).sort()).toEqual(['shop.a', 'shop.a.compensate', 'shop.b', 'shop.router', 'shop.tracker'].sort());
    expect(targets.find((t) => t.group === 'shop.router')).toEqual({ topology: 'shop', plan: plan.id, group: 'shop.router', topics: ['shop.events'] });
    expect(targets.find((t) => t.group === 'shop.b')?.topics).toEqual(['shop.fanout.b']);
  });

  test("a rollout's second plan adds its destination inputs under its own plan id, not its shared compensation topics", () => {
    const { plan: rolling } = parseTopology(`${text}\nrollout: { to: cascade, percent: 20 }`, 'shop.yaml', {});
    const second = rolling.rollout!.plan;
    const targets = lagTargets(rolling);
    expect(targets.filter((t) => t.plan === second.id)).toEqual([
      { topology: 'shop', plan: second.id, group: 'shop.a', topics: ['shop.cascade.a'] },
      { topology: 'shop', plan: second.id, group: 'shop.b', topics: ['shop.cascade.b'] },
    ]);
  });

  test('only the roles the process runs', () => {
    expect(lagTargets(plan, (role) => role.role === 'worker' && role.destination === 'b').map((t) => t.group)).toEqual(['shop.b']);
  });
});
