import { decide, EMPTY_STATE, type EventState, type Status } from '../../../src/tracker/decide.js';
import { parseTopology } from '../../../src/topology/load.js';
import type { Plan } from '../../../src/topology/plan.js';

function plan(mode: string, destinations: string[]): Plan {
  const text = [
    'name: t',
    'source: { topic: t.events, key: k, id: id }',
    `mode: ${mode}`,
    'destinations:',
    ...destinations.map((d) => `  - ${d}`),
  ].join('\n');
  return parseTopology(text, 't.yaml', {}).plan;
}

const sink = (name: string) => `sink: { type: kafka, topic: out.${name} }`;
const comp = (name: string) => `compensate: { type: kafka, topic: undo.${name} }`;

function state(parts: {
  writes?: Record<string, Status>;
  compensations?: Record<string, Status>;
  released?: string[];
  compensating?: string[];
  outcome?: 'completed' | 'failed';
}): EventState {
  return {
    writes: new Map(Object.entries(parts.writes ?? {})),
    compensations: new Map(Object.entries(parts.compensations ?? {})),
    released: new Set(parts.released ?? []),
    compensating: new Set(parts.compensating ?? []),
    ...(parts.outcome && { outcome: parts.outcome }),
  };
}

describe('decide: dag joins', () => {
  // A -> B, A -> C, B + C -> D
  const diamond = plan('dag', [`{ name: a, ${sink('a')} }`, `{ name: b, after: [a], ${sink('b')} }`, `{ name: c, after: [a], ${sink('c')} }`, `{ name: d, after: [b, c], ${sink('d')} }`]);

  test('nothing is released before every parent wrote ok', () => {
    expect(decide(diamond, EMPTY_STATE)).toEqual({ release: [], compensate: [] });
    expect(decide(diamond, state({ writes: { a: 'ok' } })).release).toEqual([]);
    expect(decide(diamond, state({ writes: { a: 'ok', b: 'ok' } })).release).toEqual([]);
    expect(decide(diamond, state({ writes: { a: 'ok', c: 'ok' } })).release).toEqual([]);
  });

  test('the join is released once when both parents wrote ok', () => {
    expect(decide(diamond, state({ writes: { a: 'ok', b: 'ok', c: 'ok' } })).release).toEqual(['d']);
    expect(decide(diamond, state({ writes: { a: 'ok', b: 'ok', c: 'ok' }, released: ['d'] })).release).toEqual([]);
  });

  test('a failed parent never releases the join', () => {
    expect(decide(diamond, state({ writes: { a: 'ok', b: 'ok', c: 'failed' } })).release).toEqual([]);
  });

  test('a failure elsewhere stops releases even when the parents are ok', () => {
    const wide = plan('dag', [`{ name: a, ${sink('a')} }`, `{ name: b, ${sink('b')} }`, `{ name: x, ${sink('x')} }`, `{ name: d, after: [a, b], ${sink('d')} }`]);
    expect(decide(wide, state({ writes: { a: 'ok', b: 'ok', x: 'failed' } })).release).toEqual([]);
  });
});

describe('decide: verdict', () => {
  const fanout = plan('fanout', [`{ name: a, ${sink('a')} }`, `{ name: b, ${sink('b')} }`]);

  test('completed only when every destination wrote ok, and only once', () => {
    expect(decide(fanout, state({ writes: { a: 'ok' } })).outcome).toBeUndefined();
    expect(decide(fanout, state({ writes: { a: 'ok', b: 'ok' } })).outcome).toBe('completed');
    expect(decide(fanout, state({ writes: { a: 'ok', b: 'ok' }, outcome: 'completed' })).outcome).toBeUndefined();
  });

  test('failed as soon as one destination failed, before the others report', () => {
    expect(decide(fanout, state({ writes: { b: 'failed' } })).outcome).toBe('failed');
    expect(decide(fanout, state({ writes: { a: 'ok', b: 'failed' }, outcome: 'failed' })).outcome).toBeUndefined();
  });

  test('a cascade that stopped at a failed step is failed, not pending', () => {
    const cascade = plan('cascade', [`{ name: a, ${sink('a')} }`, `{ name: b, ${sink('b')} }`, `{ name: c, ${sink('c')} }`]);
    expect(decide(cascade, state({ writes: { a: 'ok', b: 'failed' } })).outcome).toBe('failed');
  });
});

describe('decide: compensation', () => {
  const cascade3 = plan('cascade', [`{ name: s1, ${sink('s1')}, ${comp('s1')} }`, `{ name: s2, ${sink('s2')}, ${comp('s2')} }`, `{ name: s3, ${sink('s3')}, ${comp('s3')} }`]);

  test('nothing is compensated while nothing failed', () => {
    expect(decide(cascade3, state({ writes: { s1: 'ok', s2: 'ok' } })).compensate).toEqual([]);
  });

  test('cascade: the newest successful step first, then the one before it', () => {
    const failedAt3 = { s1: 'ok', s2: 'ok', s3: 'failed' } as const;
    expect(decide(cascade3, state({ writes: failedAt3 })).compensate).toEqual(['s2']);
    // s2's compensation emitted but not finished: s1 waits.
    expect(decide(cascade3, state({ writes: failedAt3, compensating: ['s2'] })).compensate).toEqual([]);
    expect(decide(cascade3, state({ writes: failedAt3, compensating: ['s2'], compensations: { s2: 'ok' } })).compensate).toEqual(['s1']);
    expect(decide(cascade3, state({ writes: failedAt3, compensating: ['s2', 's1'], compensations: { s2: 'ok' } })).compensate).toEqual([]);
  });

  test('cascade: a compensation that failed for good does not block the older steps', () => {
    const s = state({ writes: { s1: 'ok', s2: 'ok', s3: 'failed' }, compensating: ['s2'], compensations: { s2: 'failed' } });
    expect(decide(cascade3, s).compensate).toEqual(['s1']);
  });

  test('cascade: a failure at step 2 compensates step 1 only; step 3 never ran', () => {
    expect(decide(cascade3, state({ writes: { s1: 'ok', s2: 'failed' } })).compensate).toEqual(['s1']);
  });

  test('cascade: a step without compensate is skipped over', () => {
    const mixed = plan('cascade', [`{ name: s1, ${sink('s1')}, ${comp('s1')} }`, `{ name: s2, ${sink('s2')} }`, `{ name: s3, ${sink('s3')} }`]);
    expect(decide(mixed, state({ writes: { s1: 'ok', s2: 'ok', s3: 'failed' } })).compensate).toEqual(['s1']);
  });

  test('fan-out: every branch that succeeded is compensated at once, and a late success too', () => {
    const fanout = plan('fanout', [`{ name: a, ${sink('a')}, ${comp('a')} }`, `{ name: b, ${sink('b')}, ${comp('b')} }`, `{ name: c, ${sink('c')}, ${comp('c')} }`]);
    expect(decide(fanout, state({ writes: { a: 'ok', c: 'failed' } })).compensate).toEqual(['a']);
    expect(decide(fanout, state({ writes: { a: 'ok', b: 'ok', c: 'failed' }, compensating: ['a'] })).compensate).toEqual(['b']);
  });

  test('dag: a parent waits for a running child that declares compensate', () => {
    const dag = plan('dag', [`{ name: a, ${sink('a')}, ${comp('a')} }`, `{ name: b, after: [a], ${sink('b')}, ${comp('b')} }`, `{ name: c, after: [a], ${sink('c')} }`]);
    // c failed, b (released by a's worker) has not reported yet: a must wait for b.
    expect(decide(dag, state({ writes: { a: 'ok', c: 'failed' } })).compensate).toEqual([]);
    expect(decide(dag, state({ writes: { a: 'ok', b: 'ok', c: 'failed' } })).compensate).toEqual(['b']);
    expect(decide(dag, state({ writes: { a: 'ok', b: 'failed', c: 'failed' } })).compensate).toEqual(['a']);
  });

  test('dag: a join that was never released does not hold its parents back; a released one is undone first', () => {
    const dag = plan('dag', [
      `{ name: a, ${sink('a')}, ${comp('a')} }`,
      `{ name: b, ${sink('b')} }`,
      `{ name: x, ${sink('x')} }`,
      `{ name: j, after: [a, b], ${sink('j')}, ${comp('j')} }`,
    ]);
    expect(decide(dag, state({ writes: { a: 'ok', x: 'failed' } })).compensate).toEqual(['a']);
    const joined = { a: 'ok', b: 'ok', j: 'ok', x: 'failed' } as const;
    expect(decide(dag, state({ writes: joined, released: ['j'] })).compensate).toEqual(['j']);
    expect(decide(dag, state({ writes: joined, released: ['j'], compensating: ['j'], compensations: { j: 'ok' } })).compensate).toEqual(['a']);
  });
});

describe('descendants, from the planner\'s tracker slice', () => {
  test('transitive, in plan order', () => {
    const dag = plan('dag', [`{ name: a, ${sink('a')} }`, `{ name: b, after: [a], ${sink('b')} }`, `{ name: c, after: [b], ${sink('c')} }`, `{ name: d, ${sink('d')} }`]);
    expect(dag.slices.tracker.descendants).toEqual({ a: ['b', 'c'], b: ['c'], c: [], d: [] });
  });
});
