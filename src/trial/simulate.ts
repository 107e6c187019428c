/**
 * A discrete-event simulation of one plan shape (cascade, fanout or dag) over simulated
 * destinations. Pure: no servers, no clock, no I/O; the same input and seed give the same
 * result. It models what flowyard's roles do to an event, not Kafka itself:
 *
 * - arrivals: Poisson at `rate` events/s for `durationMs`, times `spike.factor` during the
 *   spike; keys drawn uniformly from `keys`;
 * - each hop through a Kafka topic (router -> destination, worker -> next step, completion
 *   -> tracker, tracker -> join) costs `hopMs`;
 * - a destination runs at most `concurrency` writes at once and, with `ordering: key`, one
 *   per key (later events of a busy key wait, other keys pass them);
 * - an attempt fails with the destination's error rate, or when its latency passes
 *   `timeoutMs` (then it takes `timeoutMs`); a failed attempt is retried after a full-jitter
 *   exponential backoff, holding its key but not a concurrency slot, up to `maxAttempts`,
 *   then dead-lettered; the retry budget is not modelled;
 * - the circuit breaker opens at `failureRatio` over `windowMs` (once `minRequests` were
 *   seen); while open nothing starts (events wait, as paused partitions do); after
 *   `halfOpenAfterMs` one probe decides whether it closes;
 * - during the outage every attempt at the destination fails after its usual latency;
 * - an event that failed at one destination is not sent to that destination's descendants,
 *   and every destination of it that succeeded and declares `compensate` is compensated.
 */
import type { CircuitBreakerPlan, Mode, Ordering, RetryPlan } from '../topology/plan.js';
import type { LatencyModel } from './latency.js';
import { seededStream, uniformAt } from './random.js';

export interface SimDestination {
  readonly name: string;
  /** dag parents; ignored by the cascade (list order) and fanout (none) shapes. */
  readonly after: readonly string[];
  readonly latency: LatencyModel;
  /** Share of attempts that fail, 0..1. */
  readonly errorRate: number;
  readonly timeoutMs: number;
  readonly retry: Pick<RetryPlan, 'maxAttempts' | 'initialDelayMs' | 'maxDelayMs'>;
  readonly concurrency: number;
  readonly ordering: Ordering;
  readonly circuitBreaker: CircuitBreakerPlan;
  readonly compensates: boolean;
}

export interface Window {
  readonly atMs: number;
  readonly forMs: number;
}

export interface SimOptions {
  readonly shape: Mode;
  readonly destinations: readonly SimDestination[];
  /** Events per second. */
  readonly rate: number;
  readonly durationMs: number;
  readonly keys: number;
  readonly seed: number;
  readonly hopMs: number;
  readonly spike?: Window & { readonly factor: number };
  readonly outage?: Window & { readonly destination: string };
  /** Simulated time allowed after the last arrival for the backlog to drain. */
  readonly drainMs: number;
}

export interface DestinationResult {
  readonly name: string;
  /** Per event (by index): when it was written ok at this destination, NaN if never. */
  readonly okAt: Float64Array;
  readonly deadLettered: number;
  readonly calls: number;
  readonly retries: number;
  readonly compensations: number;
  /** Time the first failed attempt / dead letter happened, NaN if none. */
  readonly firstFailureAt: number;
  readonly firstDeadLetterAt: number;
}

export interface SimResult {
  readonly shape: Mode;
  /** Per event: arrival time, ms. */
  readonly arrivals: Float64Array;
  /** Per event: when the tracker decided it (completed or failed), NaN if not within the drain bound. */
  readonly decidedAt: Float64Array;
  /** Per event: 1 completed, 2 failed, 0 undecided. */
  readonly status: Uint8Array;
  readonly destinations: readonly DestinationResult[];
  /** Simulated time when the last event was decided (or the bound hit). */
  readonly endMs: number;
}

interface Task {
  readonly event: number;
  readonly key: number;
  attempts: number;
}

/** Per-destination scheduler state: per-key FIFOs, keys ready to start, retries due. */
interface Lane {
  readonly index: number;
  readonly spec: SimDestination;
  readonly keyQueues: Map<number, Task[]>;
  readonly readyKeys: number[];
  readyHead: number;
  readonly readySet: Set<number>;
  readonly busyKeys: Set<number>;
  readonly retriesDue: Task[];
  inFlight: number;
  breaker: { state: 'closed' | 'open' | 'half-open'; openUntil: number; probing: boolean; window: { at: number; ok: boolean }[] };
  wakeScheduled: boolean;
  result: {
    okAt: Float64Array;
    deadLettered: number;
    calls: number;
    retries: number;
    compensations: number;
    firstFailureAt: number;
    firstDeadLetterAt: number;
  };
}

type Action =
  | { kind: 'arrive'; event: number }
  | { kind: 'release'; lane: number; event: number }
  | { kind: 'finish'; lane: number; task: Task; ok: boolean }
  | { kind: 'retry'; lane: number; task: Task }
  | { kind: 'wake'; lane: number }
  | { kind: 'decide'; event: number };

/** Purposes of addressed draws (see random.ts). */
const DRAW = { latency1: 1, latency2: 2, error: 3, jitter: 4 } as const;

/** Runs the simulation to the end of the drain bound. */
export function simulate(options: SimOptions): SimResult {
  const { destinations, hopMs, seed } = options;
  const arrivals = arrivalTimes(options);
  const keys = keysOf(arrivals.length, options.keys, seed);
  const count = arrivals.length;
  const decidedAt = new Float64Array(count).fill(Number.NaN);
  const status = new Uint8Array(count);
  const parents = parentsByShape(options.shape, destinations);
  const children = destinations.map((_d, i) => parents.flatMap((ps, j) => (ps.includes(i) ? [j] : [])));
  // Per event and destination: 0 pending, 1 ok, 2 failed, 3 not reached.
  const state = new Uint8Array(count * destinations.length);
  const undecided = new Uint16Array(count).fill(destinations.length);
  const lanes: Lane[] = destinations.map((spec, index) => ({
    index,
    spec,
    keyQueues: new Map(),
    readyKeys: [],
    readyHead: 0,
    readySet: new Set(),
    busyKeys: new Set(),
    retriesDue: [],
    inFlight: 0,
    breaker: { state: 'closed', openUntil: 0, probing: false, window: [] },
    wakeScheduled: false,
    result: {
      okAt: new Float64Array(count).fill(Number.NaN),
      deadLettered: 0,
      calls: 0,
      retries: 0,
      compensations: 0,
      firstFailureAt: Number.NaN,
      firstDeadLetterAt: Number.NaN,
    },
  }));

  const queue = new EventQueue<Action>();
  for (let event = 0; event < count; event += 1) queue.push(arrivals[event]!, { kind: 'arrive', event });
  const bound = options.durationMs + options.drainMs;
  let now = 0;

  // ordering none: every task is its own key, so nothing waits behind anything.
  const laneKey = (lane: Lane, task: Task): number => (lane.spec.ordering === 'key' ? task.key : -1 - task.event);

  const enqueue = (lane: Lane, task: Task): void => {
    const key = laneKey(lane, task);
    const fifo = lane.keyQueues.get(key);
    if (fifo === undefined) lane.keyQueues.set(key, [task]);
    else fifo.push(task);
    if (!lane.busyKeys.has(key) && !lane.readySet.has(key)) {
      lane.readySet.add(key);
      lane.readyKeys.push(key);
    }
    dispatch(lane);
  };

  const breakerAllows = (lane: Lane): boolean => {
    const breaker = lane.breaker;
    if (breaker.state === 'closed') return true;
    if (breaker.state === 'open') {
      if (now < breaker.openUntil) {
        if (!lane.wakeScheduled) {
          lane.wakeScheduled = true;
          queue.push(breaker.openUntil, { kind: 'wake', lane: lane.index });
        }
        return false;
      }
      breaker.state = 'half-open';
      breaker.probing = false;
    }
    return !breaker.probing;
  };

  const start = (lane: Lane, task: Task): void => {
    const { spec } = lane;
    task.attempts += 1;
    lane.inFlight += 1;
    lane.result.calls += 1;
    if (lane.breaker.state === 'half-open') lane.breaker.probing = true;
    const d = lane.index;
    const raw = spec.latency.sample(uniformAt(seed, task.event, d, task.attempts, DRAW.latency1), uniformAt(seed, task.event, d, task.attempts, DRAW.latency2));
    const timedOut = raw > spec.timeoutMs;
    const latency = Math.max(0, Math.min(raw, spec.timeoutMs));
    const down = options.outage !== undefined && options.outage.destination === spec.name && now >= options.outage.atMs && now < options.outage.atMs + options.outage.forMs;
    const failed = down || timedOut || uniformAt(seed, task.event, d, task.attempts, DRAW.error) < spec.errorRate;
    queue.push(now + latency, { kind: 'finish', lane: d, task, ok: !failed });
  };

  const dispatch = (lane: Lane): void => {
    while (lane.inFlight < lane.spec.concurrency && breakerAllows(lane)) {
      const retry = lane.retriesDue.shift();
      if (retry !== undefined) {
        start(lane, retry);
        continue;
      }
      if (lane.readyHead >= lane.readyKeys.length) break;
      const key = lane.readyKeys[lane.readyHead]!;
      lane.readyHead += 1;
      // Compact the consumed prefix now and then, so the ready list stays bounded.
      if (lane.readyHead > 4096) {
        lane.readyKeys.splice(0, lane.readyHead);
        lane.readyHead = 0;
      }
      lane.readySet.delete(key);
      const task = lane.keyQueues.get(key)!.shift()!;
      lane.busyKeys.add(key);
      start(lane, task);
    }
  };

  const releaseKey = (lane: Lane, task: Task): void => {
    const key = laneKey(lane, task);
    lane.busyKeys.delete(key);
    const fifo = lane.keyQueues.get(key);
    if (fifo !== undefined && fifo.length > 0) {
      lane.readySet.add(key);
      lane.readyKeys.push(key);
    } else lane.keyQueues.delete(key);
  };

  const recordOutcome = (lane: Lane, ok: boolean): void => {
    const { breaker } = lane;
    const { circuitBreaker } = lane.spec;
    if (breaker.state === 'half-open') {
      breaker.probing = false;
      if (ok) {
        breaker.state = 'closed';
        breaker.window = [];
      } else {
        breaker.state = 'open';
        breaker.openUntil = now + circuitBreaker.halfOpenAfterMs;
      }
      return;
    }
    if (breaker.state === 'open') return;
    breaker.window.push({ at: now, ok });
    const from = now - circuitBreaker.windowMs;
    while (breaker.window.length > 0 && breaker.window[0]!.at < from) breaker.window.shift();
    const failures = breaker.window.filter((entry) => !entry.ok).length;
    if (breaker.window.length >= circuitBreaker.minRequests && failures / breaker.window.length >= circuitBreaker.failureRatio) {
      breaker.state = 'open';
      breaker.openUntil = now + circuitBreaker.halfOpenAfterMs;
      breaker.window = [];
    }
  };

  const settle = (event: number, d: number, outcome: 1 | 2 | 3): void => {
    state[event * destinations.length + d] = outcome;
    undecided[event] = undecided[event]! - 1;
    // Only the settle that decides the last destination sends the verdict.
    if (undecided[event] === 0) queue.push(now + hopMs, { kind: 'decide', event });
    if (outcome !== 1) {
      // Descendants never get the event.
      for (const child of children[d]!) if (state[event * destinations.length + child] === 0) settle(event, child, 3);
    }
  };

  const onOk = (event: number, d: number): void => {
    for (const child of children[d]!) {
      const ready = parents[child]!.every((p) => state[event * destinations.length + p] === 1);
      // A join is released by the tracker: one more hop (completions -> tracker -> input).
      if (ready) queue.push(now + hopMs * (parents[child]!.length > 1 ? 2 : 1), { kind: 'release', lane: child, event });
    }
  };

  while (queue.size > 0) {
    const next = queue.pop()!;
    if (next.time > bound) break;
    now = next.time;
    const action = next.item;
    switch (action.kind) {
      case 'arrive':
        for (let d = 0; d < destinations.length; d += 1) {
          if (parents[d]!.length === 0) queue.push(now + hopMs, { kind: 'release', lane: d, event: action.event });
        }
        break;
      case 'release':
        enqueue(lanes[action.lane]!, { event: action.event, key: keys[action.event]!, attempts: 0 });
        break;
      case 'wake': {
        const lane = lanes[action.lane]!;
        lane.wakeScheduled = false;
        dispatch(lane);
        break;
      }
      case 'retry': {
        const lane = lanes[action.lane]!;
        lane.retriesDue.push(action.task);
        dispatch(lane);
        break;
      }
      case 'finish': {
        const lane = lanes[action.lane]!;
        const { task } = action;
        lane.inFlight -= 1;
        recordOutcome(lane, action.ok);
        if (action.ok) {
          lane.result.okAt[task.event] = now;
          releaseKey(lane, task);
          settle(task.event, lane.index, 1);
          onOk(task.event, lane.index);
        } else {
          if (Number.isNaN(lane.result.firstFailureAt)) lane.result.firstFailureAt = now;
          const { retry } = lane.spec;
          if (task.attempts < retry.maxAttempts) {
            lane.result.retries += 1;
            const cap = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (task.attempts - 1));
            const delay = cap * uniformAt(seed, task.event, lane.index, task.attempts, DRAW.jitter);
            queue.push(now + delay, { kind: 'retry', lane: lane.index, task });
          } else {
            lane.result.deadLettered += 1;
            if (Number.isNaN(lane.result.firstDeadLetterAt)) lane.result.firstDeadLetterAt = now;
            releaseKey(lane, task);
            settle(task.event, lane.index, 2);
          }
        }
        dispatch(lane);
        break;
      }
      case 'decide': {
        const { event } = action;
        decidedAt[event] = now;
        let failed = false;
        for (let d = 0; d < destinations.length; d += 1) if (state[event * destinations.length + d] !== 1) failed = true;
        status[event] = failed ? 2 : 1;
        if (failed) {
          for (const lane of lanes) if (lane.spec.compensates && state[event * destinations.length + lane.index] === 1) lane.result.compensations += 1;
        }
        break;
      }
    }
  }

  return {
    shape: options.shape,
    arrivals,
    decidedAt,
    status,
    destinations: lanes.map((lane) => ({ name: lane.spec.name, ...lane.result })),
    endMs: now,
  };
}

/** Each destination's parents (by index) in `shape`. */
export function parentsByShape(shape: Mode, destinations: readonly SimDestination[]): number[][] {
  const index = new Map(destinations.map((d, i) => [d.name, i]));
  return destinations.map((d, i) => {
    if (shape === 'fanout') return [];
    if (shape === 'cascade') return i === 0 ? [] : [i - 1];
    return d.after.map((name) => {
      const parent = index.get(name);
      if (parent === undefined) throw new Error(`simulate: '${d.name}' follows unknown '${name}'`);
      return parent;
    });
  });
}

/** Poisson arrivals, with the rate multiplied by the spike's factor inside the spike window. */
export function arrivalTimes(options: Pick<SimOptions, 'rate' | 'durationMs' | 'seed' | 'spike'>): Float64Array {
  const random = seededStream(options.seed);
  const times: number[] = [];
  const { spike } = options;
  let t = 0;
  for (;;) {
    const inSpike = spike !== undefined && t >= spike.atMs && t < spike.atMs + spike.forMs;
    const rate = options.rate * (inSpike ? spike.factor : 1);
    const gap = (-Math.log(1 - random()) / rate) * 1000;
    // Crossing into or out of the spike restarts the draw at the boundary (memoryless).
    if (spike !== undefined && !inSpike && t < spike.atMs && t + gap >= spike.atMs) {
      t = spike.atMs;
      continue;
    }
    if (spike !== undefined && inSpike && t + gap >= spike.atMs + spike.forMs) {
      t = spike.atMs + spike.forMs;
      continue;
    }
    t += gap;
    if (t >= options.durationMs) break;
    times.push(t);
  }
  return Float64Array.from(times);
}

function keysOf(count: number, keys: number, seed: number): Uint32Array {
  const result = new Uint32Array(count);
  for (let i = 0; i < count; i += 1) result[i] = Math.floor(uniformAt(seed, i, 0, 0, 7) * keys);
  return result;
}

/** A binary min-heap on time; ties keep insertion order, so runs are deterministic. */
export class EventQueue<T> {
  private readonly heap: { time: number; order: number; item: T }[] = [];
  private order = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, item: T): void {
    const heap = this.heap;
    heap.push({ time, order: this.order++, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): { time: number; item: T } | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && this.less(heap[l]!, heap[smallest]!)) smallest = l;
        if (r < heap.length && this.less(heap[r]!, heap[smallest]!)) smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return { time: top.time, item: top.item };
  }

  private less(a: { time: number; order: number }, b: { time: number; order: number }): boolean {
    return a.time < b.time || (a.time === b.time && a.order < b.order);
  }
}
