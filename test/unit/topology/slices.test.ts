/**
 * The planner hands each role its slice of the plan (first topics, next topics, done-key
 * names, joins, compensation inputs, descendants), so no role derives them from the
 * destinations itself. Golden slices for a chain, a fan-out and a dag; slices add nothing
 * to the plan id, which names what the topology means.
 */
import { compile } from '../../../src/topology/planner.js';
import type { Topology } from '../../../src/topology/spec.js';
import type { Mode } from '../../../src/topology/plan.js';

type DestinationInput = Topology['destinations'][number];

function destination(name: string, extra: Partial<DestinationInput> = {}): DestinationInput {
  return { name, sink: { type: 'kafka', topic: `out.${name}` }, ...extra };
}

function topology(mode: Mode, destinations: DestinationInput[], extra: Partial<Topology> = {}): Topology {
  return { name: 'shop', source: { topic: 'shop.events', key: 'customer.id', id: 'eventId' }, mode, destinations, ...extra };
}

const undo = (name: string) => ({ compensate: { type: 'kafka', topic: `undo.${name}` } });

describe('plan slices (golden)', () => {
  test('chain: the router feeds the first step, each step hands on to the next, compensations have their own done-keys', () => {
    const plan = compile(topology('cascade', [destination('a', undo('a')), destination('b', undo('b')), destination('c')]));
    expect(plan.slices).toEqual({
      router: { group: 'shop.router', consumes: ['shop.events'], first: [{ destination: 'a', topic: 'shop.cascade.a' }] },
      workers: [
        { destination: 'a', kind: 'write', group: 'shop.a', inputTopic: 'shop.cascade.a', doneKeyName: 'a', nextTopics: ['shop.cascade.b'] },
        { destination: 'b', kind: 'write', group: 'shop.b', inputTopic: 'shop.cascade.b', doneKeyName: 'b', nextTopics: ['shop.cascade.c'] },
        { destination: 'c', kind: 'write', group: 'shop.c', inputTopic: 'shop.cascade.c', doneKeyName: 'c', nextTopics: [] },
        { destination: 'a', kind: 'compensation', group: 'shop.a.compensate', inputTopic: 'shop.compensate.a', doneKeyName: 'a.compensate', nextTopics: [] },
        { destination: 'b', kind: 'compensation', group: 'shop.b.compensate', inputTopic: 'shop.compensate.b', doneKeyName: 'b.compensate', nextTopics: [] },
      ],
      tracker: {
        group: 'shop.tracker',
        consumes: ['shop.completions'],
        joinTopics: {},
        compensationTopics: { a: 'shop.compensate.a', b: 'shop.compensate.b' },
        descendants: { a: ['b', 'c'], b: ['c'], c: [] },
      },
    });
  });

  test('fan-out: the router feeds every destination; nothing hands on, nothing runs after anything', () => {
    const plan = compile(topology('fanout', [destination('a'), destination('b'), destination('c')]));
    expect(plan.slices).toEqual({
      router: {
        group: 'shop.router',
        consumes: ['shop.events'],
        first: [
          { destination: 'a', topic: 'shop.fanout.a' },
          { destination: 'b', topic: 'shop.fanout.b' },
          { destination: 'c', topic: 'shop.fanout.c' },
        ],
      },
      workers: [
        { destination: 'a', kind: 'write', group: 'shop.a', inputTopic: 'shop.fanout.a', doneKeyName: 'a', nextTopics: [] },
        { destination: 'b', kind: 'write', group: 'shop.b', inputTopic: 'shop.fanout.b', doneKeyName: 'b', nextTopics: [] },
        { destination: 'c', kind: 'write', group: 'shop.c', inputTopic: 'shop.fanout.c', doneKeyName: 'c', nextTopics: [] },
      ],
      tracker: { group: 'shop.tracker', consumes: ['shop.completions'], joinTopics: {}, compensationTopics: {}, descendants: { a: [], b: [], c: [] } },
    });
  });

  test('dag: roots from the router, single parents hand on, the join is the tracker\'s; the sequencer reads the verdicts', () => {
    const plan = compile(
      topology('dag', [destination('a'), destination('b', { after: ['a'] }), destination('c', { after: ['a'] }), destination('d', { after: ['c', 'b'] }), destination('e')], {
        ordering: { sequencer: { output: 'shop.sequenced', holdMs: 500 } },
      }),
    );
    expect(plan.slices).toEqual({
      router: {
        group: 'shop.router',
        consumes: ['shop.events'],
        first: [
          { destination: 'a', topic: 'shop.dag.a' },
          { destination: 'e', topic: 'shop.dag.e' },
        ],
      },
      workers: [
        { destination: 'a', kind: 'write', group: 'shop.a', inputTopic: 'shop.dag.a', doneKeyName: 'a', nextTopics: ['shop.dag.b', 'shop.dag.c'] },
        { destination: 'b', kind: 'write', group: 'shop.b', inputTopic: 'shop.dag.b', doneKeyName: 'b', nextTopics: [] },
        { destination: 'c', kind: 'write', group: 'shop.c', inputTopic: 'shop.dag.c', doneKeyName: 'c', nextTopics: [] },
        { destination: 'd', kind: 'write', group: 'shop.d', inputTopic: 'shop.dag.d', doneKeyName: 'd', nextTopics: [] },
        { destination: 'e', kind: 'write', group: 'shop.e', inputTopic: 'shop.dag.e', doneKeyName: 'e', nextTopics: [] },
      ],
      tracker: {
        group: 'shop.tracker',
        consumes: ['shop.completions'],
        joinTopics: { d: 'shop.dag.d' },
        compensationTopics: {},
        descendants: { a: ['b', 'c', 'd'], b: ['d'], c: ['d'], d: [], e: [] },
      },
      sequencer: { group: 'shop.sequencer', consumes: ['shop.completions'], output: 'shop.sequenced', holdMs: 500 },
    });
  });

  test('a rollout plan carries its own slices, in its own mode', () => {
    const plan = compile(topology('cascade', [destination('a'), destination('b')], { rollout: { to: 'fanout', percent: 10 } }));
    expect(plan.slices.router.first.map((f) => f.topic)).toEqual(['shop.cascade.a']);
    expect(plan.rollout!.plan.slices.router.first.map((f) => f.topic)).toEqual(['shop.fanout.a', 'shop.fanout.b']);
  });

  test('slices are not part of the plan id: these topologies keep the ids they had before slices existed', () => {
    // The golden plan texts of topologies/ (examples.test.ts) keep theirs too.
    expect(compile(topology('fanout', [destination('a'), destination('b'), destination('c')])).id).toBe('shop@7cb77c6e');
    const dag = topology('dag', [destination('a'), destination('b', { after: ['a'] }), destination('c', { after: ['a'] }), destination('d', { after: ['c', 'b'] }), destination('e')], {
      ordering: { sequencer: { output: 'shop.sequenced', holdMs: 500 } },
    });
    expect(compile(dag).id).toBe('shop@ad712304');
  });
});
