/**
 * What the tracker must emit for one event, given everything known about it (docs/architecture.md §6, §7).
 * Pure: the tracker role loads the state from Redis, calls `decide`, emits, then records
 * what it emitted, so a crash between emitting and recording only repeats an emission
 * (every receiver dedups by event id) and never loses one.
 *
 * Rules, per event:
 * - a join node (several `after`) is released once all its parents wrote ok, unless the
 *   event already failed somewhere (nothing new starts for a failed event);
 * - the event is `completed` when every destination wrote ok, `failed` as soon as one
 *   failed for good; decided once;
 * - once failed, every destination that wrote ok and declares `compensate` is undone, newest
 *   first: a destination is compensated only after every descendant that will run, wrote ok
 *   and declares `compensate` was compensated (cascade: step n-1, then n-2, ...; fan-out:
 *   all at once, having no descendants).
 */
import type { Plan, PlanDestination } from '../topology/plan.js';

export type Status = 'ok' | 'failed';

export interface EventState {
  /** Write outcome per destination that reported one. */
  readonly writes: ReadonlyMap<string, Status>;
  /** Compensation outcome per destination whose compensation reported one. */
  readonly compensations: ReadonlyMap<string, Status>;
  /** Join nodes already released for this event. */
  readonly released: ReadonlySet<string>;
  /** Destinations whose compensation was already emitted. */
  readonly compensating: ReadonlySet<string>;
  /** The verdict already emitted, if any. */
  readonly outcome?: 'completed' | 'failed';
}

export interface Decision {
  /** Join nodes to release now, in plan order. */
  readonly release: readonly string[];
  /** Destinations to compensate now, in plan order. */
  readonly compensate: readonly string[];
  readonly outcome?: 'completed' | 'failed';
}

export const EMPTY_STATE: EventState = { writes: new Map(), compensations: new Map(), released: new Set(), compensating: new Set() };

export function decide(plan: Plan, state: EventState): Decision {
  const { descendants } = plan.slices.tracker;
  const failed = plan.destinations.some((d) => state.writes.get(d.name) === 'failed');
  const allOk = plan.destinations.every((d) => state.writes.get(d.name) === 'ok');

  const release = failed
    ? []
    : plan.destinations
        .filter((d) => d.releasedBy === 'tracker' && !state.released.has(d.name) && d.after.every((parent) => state.writes.get(parent) === 'ok'))
        .map((d) => d.name);

  const willRun = (destination: PlanDestination): boolean => {
    if (destination.releasedBy === 'router') return true;
    if (destination.releasedBy === 'worker') return state.writes.get(destination.after[0]!) === 'ok';
    return state.released.has(destination.name);
  };
  /** Nothing more will be undone at `destination`: it will not run, failed, has nothing to undo, or was undone. */
  const settled = (destination: PlanDestination): boolean => {
    if (destination.compensation === undefined || !willRun(destination)) return true;
    const write = state.writes.get(destination.name);
    if (write === 'failed') return true;
    return write === 'ok' && state.compensations.has(destination.name);
  };
  const byName = new Map(plan.destinations.map((d) => [d.name, d]));
  const compensate = failed
    ? plan.destinations
        .filter(
          (d) =>
            d.compensation !== undefined &&
            state.writes.get(d.name) === 'ok' &&
            !state.compensating.has(d.name) &&
            descendants[d.name]!.every((name) => settled(byName.get(name)!)),
        )
        .map((d) => d.name)
    : [];

  const verdict = failed ? 'failed' : allOk ? 'completed' : undefined;
  return { release, compensate, ...(state.outcome === undefined && verdict !== undefined && { outcome: verdict }) };
}
