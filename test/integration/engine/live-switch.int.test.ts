/**
 * Changing the shape while events flow, on the real broker and Redis: a live mode switch
 * cascade -> fanout -> cascade, and a key-hash rollout at 10% then 50%. Per key, every
 * `ordering: key` destination sees the events in source order, nothing is lost or doubled,
 * and a key never has events in flight in two plans at once.
 */
import { createPlanTopics } from '../../../src/cli/commands/topics.js';
import { createLogger } from '../../../src/observability/logger.js';
import { keyBucket, BUCKETS } from '../../../src/runtime/routing.js';
import type { Plan } from '../../../src/topology/plan.js';
import { eventually } from '../../helpers/servers.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';

const ROLES = ['router', 'worker', 'tracker'] as const;
const DESTINATIONS = ['ledger', 'search'];

const topology = (mode: string, extra = '') => `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: ${mode}
partitions: 3
destinations:
  - { name: ledger, sink: { type: kafka, topic: '{name}.ledger' }, concurrency: 8 }
  - { name: search, sink: { type: kafka, topic: '{name}.search' }, concurrency: 8 }
${extra}
`;

/** Produces `records` at `perSecond`, calling `at[second]` when that second starts. */
async function produceSteadily(pipeline: TestPipeline, records: Parameters<TestPipeline['produce']>[0], perSecond: number, at: Record<number, () => Promise<void>>): Promise<void> {
  for (let second = 0; second * perSecond < records.length; second += 1) {
    const started = Date.now();
    await at[second]?.();
    await pipeline.produce(records.slice(second * perSecond, (second + 1) * perSecond));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - started))));
  }
}

/**
 * Keys whose events overlapped in two plans: an event routed in plan B while an earlier event
 * of its key, routed in plan A, was not yet decided (its verdict came after B's ingest time).
 */
function keysInTwoPlansAtOnce(pipeline: TestPipeline): string[] {
  const planOf = new Map(pipeline.completions.map((c) => [c.eventId, c.plan]));
  const decidedAt = new Map(pipeline.outcomes.map((o) => [o.eventId, o.at]));
  const byKey = new Map<string, { eventId: string; seq: number; ingestedAt: number }[]>();
  for (const c of pipeline.completions) {
    const list = byKey.get(c.key) ?? [];
    if (!list.some((e) => e.eventId === c.eventId)) list.push({ eventId: c.eventId, seq: c.seq, ingestedAt: c.ingestedAt });
    byKey.set(c.key, list);
  }
  const overlapping: string[] = [];
  for (const [key, events] of byKey) {
    events.sort((a, b) => a.seq - b.seq);
    const bad = events.some((later, j) => events.slice(0, j).some((earlier) => planOf.get(earlier.eventId) !== planOf.get(later.eventId) && (decidedAt.get(earlier.eventId) ?? Infinity) > later.ingestedAt));
    if (bad) overlapping.push(key);
  }
  return overlapping;
}

async function finishedAll(pipeline: TestPipeline, count: number): Promise<boolean> {
  const done = await eventually(() => DESTINATIONS.every((d) => pipeline.finished(d) === count) && new Set(pipeline.outcomes.map((o) => o.eventId)).size === count, 120_000, 250);
  if (!done) {
    // What is missing where, so a failure says which step stalled.
    const progress = Object.fromEntries([...DESTINATIONS.map((d) => [d, pipeline.finished(d)]), ['verdicts', new Set(pipeline.outcomes.map((o) => o.eventId)).size]]);
    console.error(`not finished after 120 s, of ${count}: ${JSON.stringify(progress)}`);
  }
  return done;
}

/** A cascade pipeline whose log is kept, its host, and the fanout plan to switch to (topics created). */
async function cascadeThenFanout(): Promise<{ logs: Record<string, unknown>[]; pipeline: TestPipeline; host: ReturnType<TestPipeline['host']>; cascade: Plan; fanout: Plan }> {
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const pipeline = await TestPipeline.create(topology('cascade'), {}, logger);
  const fanout = pipeline.planOf((yaml) => yaml.replace('mode: cascade', 'mode: fanout'));
  await createPlanTopics(fanout, pipeline.shared.kafka);
  return { logs, pipeline, host: pipeline.host([...ROLES], { drainPollMs: 200 }), cascade: pipeline.plan, fanout };
}

test('switching cascade -> fanout -> cascade at 5,000 events a minute keeps every key in order, loses and doubles nothing', async () => {
  const { logs, pipeline, host, cascade, fanout } = await cascadeThenFanout();
  try {
    const delay = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 20));
    for (const d of DESTINATIONS) pipeline.behaviours.set(d, delay);
    const { records, eventIds } = pipeline.samples(2_500, 40);
    await host.start();
    await produceSteadily(pipeline, records, 84, { 8: () => host.replace(fanout), 18: () => host.replace(cascade) });
    expect(await finishedAll(pipeline, records.length)).toBe(true);

    for (const d of DESTINATIONS) expect(checkExactlyOnceInOrder(await pipeline.written(d), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    const plans = new Set(pipeline.completions.map((c) => c.plan));
    expect(plans).toEqual(new Set([cascade.id, fanout.id]));
    // The log shows both hand-overs with both plan ids, and each old plan drained before its workers stopped.
    const switched = logs.filter((l) => l.msg === 'plan switched: the new plan runs').map((l) => [l.from, l.to]);
    expect(switched).toEqual([
      [cascade.id, fanout.id],
      [fanout.id, cascade.id],
    ]);
    const drained = () => logs.filter((l) => l.msg === 'old plan drained: no key in flight; its workers stop').flatMap((l) => l.drained as string[]);
    expect(await eventually(() => drained().includes(cascade.id) && drained().includes(fanout.id), 10_000)).toBe(true);
    expect(keysInTwoPlansAtOnce(pipeline)).toEqual([]);
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    await host.stop();
    await pipeline.close();
  }
});

test('switching back while the old plan still drains: its workers hand over to the new ones, nothing lost, doubled or reordered, no drain left behind', async () => {
  const { logs, pipeline, host, cascade, fanout } = await cascadeThenFanout();
  try {
    // Slow enough that the cascade plan still has keys in flight when the switch back comes.
    const delay = () => new Promise<void>((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    for (const d of DESTINATIONS) pipeline.behaviours.set(d, delay);
    const { records, eventIds } = pipeline.samples(800, 40);
    await host.start();
    await produceSteadily(pipeline, records, 80, { 3: () => host.replace(fanout), 4: () => host.replace(cascade) });
    expect(await finishedAll(pipeline, records.length)).toBe(true);

    for (const d of DESTINATIONS) expect(checkExactlyOnceInOrder(await pipeline.written(d), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(keysInTwoPlansAtOnce(pipeline)).toEqual([]);
    const handedOver = logs.filter((l) => l.msg === 'the new plan reads topics an older plan still drains: those workers hand over to it');
    expect(handedOver.map((l) => l.to)).toEqual([cascade.id]);
    // Both drains end: the cascade one at once (its plan runs again), the fanout one once its keys settled.
    const ended = () => logs.filter((l) => l.msg === 'old plan handed over: the current plan reads its topics again' || l.msg === 'old plan drained: no key in flight; its workers stop');
    expect(await eventually(() => ended().length === 2, 20_000)).toBe(true);
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    await host.stop();
    await pipeline.close();
  }
});

// The timeout covers its own waits: topics and roles, 12 s of producing, up to 120 s to finish.
test('a rollout at 10% then 50% sends that share of keys to the fanout plan, a key never in flight in both plans', async () => {
  const pipeline = await TestPipeline.create(topology('cascade', 'rollout: { to: fanout, percent: 10 }'));
  const host = pipeline.host([...ROLES], { drainPollMs: 200 });
  try {
    const at10 = pipeline.plan;
    const at50 = pipeline.planOf((yaml) => yaml.replace('percent: 10', 'percent: 50'));
    expect(at50.rollout!.plan.id).toBe(at10.rollout!.plan.id);
    const fanoutId = at10.rollout!.plan.id;
    const delay = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 10));
    for (const d of DESTINATIONS) pipeline.behaviours.set(d, delay);
    const keys = 400;
    const { records, eventIds } = pipeline.samples(2_400, keys);
    await host.start();
    // The last 400 events come once every earlier one is decided: a key stays in the old plan while
    // an event of it is in flight there, so how many keys had moved by then would measure the
    // machine's latency (a key's events come 2 s apart), not the rollout's share.
    const settled = async (count: number) => {
      if (!(await finishedAll(pipeline, count))) throw new Error(`the first ${count} events did not finish before the last ${records.length - count}`);
    };
    await produceSteadily(pipeline, records, 200, { 6: () => host.replace(at50), 10: () => settled(2_000) });
    expect(await finishedAll(pipeline, records.length)).toBe(true);

    for (const d of DESTINATIONS) expect(checkExactlyOnceInOrder(await pipeline.written(d), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(keysInTwoPlansAtOnce(pipeline)).toEqual([]);

    // Share of keys on the fanout plan among the first and the last 400 events (one per key each;
    // the last ones routed once every key settled).
    const firstEvents = new Set(eventIds.slice(0, keys));
    const lastEvents = new Set(eventIds.slice(-keys));
    const share = (events: Set<string>) => {
      const onFanout = new Set(pipeline.completions.filter((c) => events.has(c.eventId) && c.plan === fanoutId).map((c) => c.key));
      return onFanout.size / keys;
    };
    expect(Math.abs(share(firstEvents) - 0.1)).toBeLessThan(0.05);
    expect(Math.abs(share(lastEvents) - 0.5)).toBeLessThan(0.07);
    // And exactly the keys whose hash bucket says so, once they settled.
    const expectedOnFanout = (key: string) => keyBucket(key) < 0.5 * BUCKETS;
    const lastPlans = pipeline.completions.filter((c) => lastEvents.has(c.eventId));
    expect(lastPlans.filter((c) => (c.plan === fanoutId) !== expectedOnFanout(c.key))).toEqual([]);

    // The tracker's end-to-end latency counts each completed event under the plan it was routed in.
    const latency = (await pipeline.shared.registry.getSingleMetric('flowyard_end_to_end_latency_seconds')!.get()).values as readonly {
      metricName?: string;
      labels: Record<string, string | number>;
      value: number;
    }[];
    const counted = Object.fromEntries(latency.filter((v) => v.metricName === 'flowyard_end_to_end_latency_seconds_count').map((v) => [v.labels.plan, v.value]));
    const routedIn = (planId: string) => new Set(pipeline.completions.filter((c) => c.plan === planId).map((c) => c.eventId)).size;
    const planIds = [...new Set(pipeline.completions.map((c) => c.plan))];
    expect(planIds).toEqual(expect.arrayContaining([at10.id, at50.id, fanoutId]));
    expect(counted).toEqual(Object.fromEntries(planIds.map((id) => [id, routedIn(id)])));
  } finally {
    await host.stop();
    await pipeline.close();
  }
}, 300_000);
