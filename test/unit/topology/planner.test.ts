/**
 * compile(topology) -> Plan is pure: these tests prove the shape of the plan in each mode
 * (who releases each destination, the edges, topics, groups and roles) and that the plan
 * id depends on the meaning of a topology, not on how its YAML is written.
 */
import { compile } from '../../../src/topology/planner.js';
import { parseTopology } from '../../../src/topology/load.js';
import type { Topology } from '../../../src/topology/spec.js';
import type { Mode, Plan } from '../../../src/topology/plan.js';

type DestinationInput = Topology['destinations'][number];

function destination(name: string, after?: string[]): DestinationInput {
  return { name, sink: { type: 'kafka', topic: `out.${name}` }, ...(after === undefined ? {} : { after }) };
}

function topology(mode: Mode, destinations: DestinationInput[], extra: Partial<Topology> = {}): Topology {
  return { name: 'shop', source: { topic: 'shop.events', key: 'customer.id', id: 'eventId' }, mode, destinations, ...extra };
}

/** Edges as `from -> to (kind)`, easy to read in a failure. */
function edges(plan: Plan): string[] {
  return plan.edges.map((edge) => `${edge.from} -> ${edge.to} via ${edge.via} (${edge.kind})`);
}

function wiring(plan: Plan): Record<string, { after: readonly string[]; releasedBy: string; next: readonly string[] }> {
  return Object.fromEntries(
    plan.destinations.map((entry) => [entry.name, { after: entry.after, releasedBy: entry.releasedBy, next: entry.next }]),
  );
}

describe('compile: modes', () => {
  test('fanout: the router releases every destination; no hand-offs', () => {
    const plan = compile(topology('fanout', [destination('a'), destination('b'), destination('c')]));
    expect(edges(plan)).toEqual([
      'router -> a via shop.fanout.a (direct)',
      'router -> b via shop.fanout.b (direct)',
      'router -> c via shop.fanout.c (direct)',
    ]);
    expect(wiring(plan)).toEqual({
      a: { after: [], releasedBy: 'router', next: [] },
      b: { after: [], releasedBy: 'router', next: [] },
      c: { after: [], releasedBy: 'router', next: [] },
    });
  });

  test('cascade: a chain in list order, each step handing on to the next', () => {
    const plan = compile(topology('cascade', [destination('a'), destination('b'), destination('c')]));
    expect(edges(plan)).toEqual([
      'router -> a via shop.cascade.a (direct)',
      'a -> b via shop.cascade.b (direct)',
      'b -> c via shop.cascade.c (direct)',
    ]);
    expect(wiring(plan)).toEqual({
      a: { after: [], releasedBy: 'router', next: ['b'] },
      b: { after: ['a'], releasedBy: 'worker', next: ['c'] },
      c: { after: ['b'], releasedBy: 'worker', next: [] },
    });
  });

  test('dag diamond: A -> B, A -> C, B + C -> D (a join released by the tracker)', () => {
    const plan = compile(topology('dag', [destination('a'), destination('b', ['a']), destination('c', ['a']), destination('d', ['b', 'c'])]));
    expect(edges(plan)).toEqual([
      'router -> a via shop.dag.a (direct)',
      'a -> b via shop.dag.b (direct)',
      'a -> c via shop.dag.c (direct)',
      'b -> d via shop.dag.d (join)',
      'c -> d via shop.dag.d (join)',
    ]);
    expect(wiring(plan)).toEqual({
      a: { after: [], releasedBy: 'router', next: ['b', 'c'] },
      b: { after: ['a'], releasedBy: 'worker', next: [] },
      c: { after: ['a'], releasedBy: 'worker', next: [] },
      d: { after: ['b', 'c'], releasedBy: 'tracker', next: [] },
    });
  });

  test('a dag whose destinations each follow the previous one is a chain', () => {
    const dag = compile(topology('dag', [destination('a'), destination('b', ['a']), destination('c', ['b'])]));
    const cascade = compile(topology('cascade', [destination('a'), destination('b'), destination('c')]));
    expect(wiring(dag)).toEqual(wiring(cascade));
    expect(edges(dag)).toEqual(edges(cascade).map((edge) => edge.replace('.cascade.', '.dag.')));
  });

  test('a dag without any after is a fan-out', () => {
    const dag = compile(topology('dag', [destination('a'), destination('b'), destination('c', [])]));
    const fanout = compile(topology('fanout', [destination('a'), destination('b'), destination('c')]));
    expect(wiring(dag)).toEqual(wiring(fanout));
    expect(edges(dag)).toEqual(edges(fanout).map((edge) => edge.replace('.fanout.', '.dag.')));
  });

  test('a dag with several roots and a join of a root and a chain', () => {
    const plan = compile(topology('dag', [destination('a'), destination('b'), destination('c', ['a']), destination('d', ['b', 'c'])]));
    expect(edges(plan)).toEqual([
      'router -> a via shop.dag.a (direct)',
      'router -> b via shop.dag.b (direct)',
      'a -> c via shop.dag.c (direct)',
      'b -> d via shop.dag.d (join)',
      'c -> d via shop.dag.d (join)',
    ]);
    expect(plan.destinations.map((entry) => entry.next)).toEqual([['c'], [], [], []]);
  });
});

describe('compile: topics, groups and roles', () => {
  const plan = compile(
    topology('fanout', [
      { ...destination('ledger'), compensate: { type: 'kafka', topic: 'out.ledger-reversals', partitions: 3 } },
      { name: 'notify', sink: { type: 'kafka', topic: 'out.notify', partitions: 48 }, ordering: 'none' },
    ], {
      source: { topics: ['shop.events', 'shop.more'], key: 'customer.id', id: 'meta.eventId' },
      partitions: 6,
      ordering: { sequencer: { output: 'shop.sequenced' } },
    }),
  );

  test('every topic the plan touches, sorted by name, with owner and partitions', () => {
    expect(plan.topics).toEqual([
      { name: 'out.ledger', partitions: 6, purpose: 'sink', derived: false },
      { name: 'out.ledger-reversals', partitions: 3, purpose: 'compensation', derived: false },
      { name: 'out.notify', partitions: 48, purpose: 'sink', derived: false },
      { name: 'shop.compensate.ledger', partitions: 6, purpose: 'compensation-input', derived: true },
      { name: 'shop.completions', partitions: 6, purpose: 'completions', derived: true },
      { name: 'shop.dlq', partitions: 6, purpose: 'dlq', derived: true },
      { name: 'shop.events', partitions: 6, purpose: 'source', derived: false },
      { name: 'shop.fanout.ledger', partitions: 6, purpose: 'destination-input', derived: true },
      { name: 'shop.fanout.notify', partitions: 6, purpose: 'destination-input', derived: true },
      { name: 'shop.more', partitions: 6, purpose: 'source', derived: false },
      { name: 'shop.sequenced', partitions: 6, purpose: 'sequencer-output', derived: true },
    ]);
  });

  test('groups and roles: router, one worker per destination, tracker, sequencer when configured', () => {
    expect(plan.groups).toEqual({ router: 'shop.router', tracker: 'shop.tracker', sequencer: 'shop.sequencer' });
    expect(plan.roles).toEqual([
      { role: 'router', group: 'shop.router', consumes: ['shop.events', 'shop.more'] },
      { role: 'worker', group: 'shop.ledger', consumes: ['shop.fanout.ledger'], destination: 'ledger' },
      { role: 'worker', group: 'shop.notify', consumes: ['shop.fanout.notify'], destination: 'notify' },
      { role: 'worker', group: 'shop.ledger.compensate', consumes: ['shop.compensate.ledger'], destination: 'ledger' },
      { role: 'tracker', group: 'shop.tracker', consumes: ['shop.completions'] },
      { role: 'sequencer', group: 'shop.sequencer', consumes: ['shop.completions'] },
    ]);
    expect(plan.sequencer).toEqual({ output: 'shop.sequenced', holdMs: 2000, group: 'shop.sequencer' });
    expect(plan.completionsTopic).toBe('shop.completions');
    expect(plan.dlqTopic).toBe('shop.dlq');
  });

  test('the source as field paths, defaults filled in', () => {
    expect(plan.source).toEqual({ topics: ['shop.events', 'shop.more'], format: 'json', keyPath: ['customer', 'id'], idPath: ['meta', 'eventId'] });
    expect(plan.dedup).toEqual({ ttlSeconds: 90000 });
    expect(plan.destinations[1]).toMatchObject({
      timeoutMs: 5000,
      concurrency: 16,
      ordering: 'none',
      retry: { maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 10000, budgetRatio: 0.2, budgetWindowMs: 10000 },
      circuitBreaker: { failureRatio: 0.5, minRequests: 20, windowMs: 10000, halfOpenAfterMs: 30000 },
    });
  });

  test('without a sequencer there is no sequencer role; an explicit dlq topic is used', () => {
    const plain = compile(topology('cascade', [destination('a')], { dlq: { topic: 'errors.shop' } }));
    expect(plain.sequencer).toBeUndefined();
    expect(plain.roles.map((role) => role.role)).toEqual(['router', 'worker', 'tracker']);
    expect(plain.dlqTopic).toBe('errors.shop');
    expect(plain.topics.find((entry) => entry.purpose === 'dlq')).toEqual({ name: 'errors.shop', partitions: 12, purpose: 'dlq', derived: true });
  });

  test('the plan is immutable', () => {
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.destinations[0]?.retry)).toBe(true);
  });
});

describe('compile: the plan id', () => {
  const yaml = [
    'name: orders',
    'source: { topic: orders.events, key: customerId, id: eventId }',
    'mode: dag',
    'destinations:',
    '  - name: ledger',
    '    sink: { type: kafka, topic: orders.ledger }',
    '  - name: notify',
    '    after: [ledger]',
    '    sink: { type: kafka, topic: orders.notify }',
  ].join('\n');
  const idOf = (text: string, env: Record<string, string> = {}): string => parseTopology(text, 'x.yaml', env).plan.id;

  test('is <name>@<8 hex digits> and the same for the same input', () => {
    const id = idOf(yaml);
    expect(id).toMatch(/^orders@[0-9a-f]{8}$/);
    expect(idOf(yaml)).toBe(id);
    expect(compile(parseTopology(yaml, 'x.yaml').topology)).toEqual(parseTopology(yaml, 'x.yaml').plan);
  });

  test('does not depend on key order, flow or block style, or spelt-out defaults', () => {
    const reordered = [
      'destinations:',
      '  - sink: { topic: orders.ledger, type: kafka }',
      '    name: ledger',
      '    timeoutMs: 5000',
      '    retry: { maxAttempts: 5 }',
      '  - after: [ledger]',
      '    name: notify',
      '    sink:',
      '      type: kafka',
      '      topic: orders.notify',
      'mode: dag',
      'partitions: 12',
      'source:',
      '  id: eventId',
      '  format: json',
      '  topics: [orders.events]',
      '  key: customerId',
      'name: orders',
      'dlq: { topic: orders.dlq }',
    ].join('\n');
    expect(idOf(reordered)).toBe(idOf(yaml));
  });

  test("does not depend on the order of a join's parents", () => {
    const join = (parents: string) =>
      [
        'name: orders',
        'source: { topic: orders.events, key: customerId, id: eventId }',
        'mode: dag',
        'destinations:',
        '  - { name: ledger, sink: { type: kafka, topic: orders.ledger } }',
        '  - { name: search, sink: { type: kafka, topic: orders.search } }',
        `  - { name: archive, after: [${parents}], sink: { type: kafka, topic: orders.archive } }`,
      ].join('\n');
    expect(idOf(join('search, ledger'))).toBe(idOf(join('ledger, search')));
  });

  test('changes with any value that changes the plan', () => {
    const id = idOf(yaml);
    const variants = [
      yaml.replace('orders.notify', 'orders.notifications'),
      yaml.replace('key: customerId', 'key: accountId'),
      `${yaml}\npartitions: 24`,
      `${yaml}\n    timeoutMs: 100`,
      `${yaml}\n    ordering: none`,
      `${yaml}\ndedup: { ttlSeconds: 3600 }`,
      `${yaml}\nordering: { sequencer: { output: orders.sequenced } }`,
      yaml.replace('mode: dag', 'mode: cascade').replace('    after: [ledger]\n', ''),
    ];
    const ids = variants.map((variant) => idOf(variant));
    for (const other of ids) expect(other).not.toBe(id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('takes resolved environment values', () => {
    const templated = yaml.replace('orders.notify', '"${NOTIFY_TOPIC}"');
    expect(idOf(templated, { NOTIFY_TOPIC: 'orders.notify' })).toBe(idOf(yaml));
    expect(idOf(templated, { NOTIFY_TOPIC: 'orders.other' })).not.toBe(idOf(yaml));
  });
});
