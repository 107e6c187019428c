/**
 * Which plan each event is routed in, when more than one plan is live: the plan a topology
 * change left behind (draining until nothing of it is in flight) and the plans of a rollout
 * (`rollout: { to, percent }` sends a stable share of keys, by hash bucket, to a second
 * plan in the other mode). Pure: the router asks Redis which keys are busy where and
 * passes that in.
 *
 * The rule that keeps per-key order across plans: a key goes to its target plan only when
 * none of its events is in flight in another plan; otherwise it stays where it is busy.
 */
import { createHash } from 'node:crypto';
import type { Plan } from '../topology/plan.js';

export interface Routing {
  /** Every plan events may be routed in: the targets first, then plans still draining. */
  readonly plans: readonly Plan[];
  /** Plans left behind by a change: events go there only while their key is busy there. */
  readonly draining: readonly Plan[];
  /** The plan a key belongs to now. */
  target(key: string): Plan;
}

/** Buckets of a key hash; `percent` of them go to the rollout plan. */
export const BUCKETS = 10_000;

/** A stable bucket in [0, BUCKETS) per key, the same in every process and release. */
export function keyBucket(key: string): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) % BUCKETS;
}

/** The targets of `plan`: itself, and its rollout plan for `percent` of the keys. */
export function routingOf(plan: Plan, draining: readonly Plan[] = []): Routing {
  const rollout = plan.rollout;
  const targets = rollout === undefined ? [plan] : [plan, rollout.plan];
  const threshold = rollout === undefined ? 0 : Math.round((rollout.percent / 100) * BUCKETS);
  const ids = new Set(targets.map((p) => p.id));
  const leftBehind = draining.filter((p) => !ids.has(p.id));
  return {
    plans: [...targets, ...leftBehind],
    draining: leftBehind,
    target: rollout === undefined ? () => plan : (key) => (keyBucket(key) < threshold ? rollout.plan : plan),
  };
}

/**
 * The plan of each event, in order. `busy` maps a plan id to the keys that have events in
 * flight there; an event goes to the first other plan its key is busy in, else its target.
 */
export function choosePlans(events: readonly { readonly key: string }[], routing: Routing, busy: ReadonlyMap<string, ReadonlySet<string>>): Plan[] {
  return events.map(({ key }) => {
    const target = routing.target(key);
    return routing.plans.find((plan) => plan.id !== target.id && busy.get(plan.id)?.has(key)) ?? target;
  });
}
