/**
 * Compiles a validated topology into its Plan (docs/architecture.md §4). Pure and deterministic: the
 * same topology, however its YAML was ordered or which defaults it spelt out, gives the
 * same plan and plan id.
 */
import { createHash } from 'node:crypto';
import { DEFAULTS, type Topology, type TopologyDestination } from './spec.js';
import { kafkaSinkTopic } from '../sinks/kafka/config.js';
import { shadowTopology } from '../shadow/topology.js';
import {
  compensationDoneKeyName,
  compensationGroup,
  compensationInputTopic,
  completionsTopic,
  defaultDlqTopic,
  destinationGroup,
  destinationInputTopic,
  fieldPath,
  roleGroup,
} from './names.js';
import type {
  CircuitBreakerPlan,
  Mode,
  Plan,
  PlanDestination,
  PlanEdge,
  PlanRole,
  PlanSlices,
  PlanSource,
  PlanTopic,
  RetryPlan,
  SinkConfig,
  TopicPurpose,
  WorkerSlice,
} from './plan.js';

/**
 * The plan of a topology. Expects a topology that passed validation (`parseTopology` /
 * `loadTopology`); throws on an `after` naming an unknown destination, which validation
 * reports with its position.
 */
export function compile(topology: Topology): Plan {
  const { name } = topology;
  const mode: Mode = topology.mode;
  const partitions = topology.partitions ?? DEFAULTS.partitions;
  const source = planSource(topology);
  const names = topology.destinations.map((destination) => destination.name);
  const parentsOf = (destination: TopologyDestination, index: number): string[] => {
    if (mode === 'fanout') return [];
    if (mode === 'cascade') return index === 0 ? [] : [names[index - 1] as string];
    return [...(destination.after ?? [])];
  };

  const skeleton = topology.destinations.map((destination, index) => {
    const after = parentsOf(destination, index);
    for (const parent of after) {
      if (!names.includes(parent)) throw new Error(`compile: destination '${destination.name}' follows unknown '${parent}'; validate the topology first`);
    }
    const releasedBy: PlanDestination['releasedBy'] = after.length === 0 ? 'router' : after.length === 1 ? 'worker' : 'tracker';
    return { destination, after, releasedBy };
  });

  const destinations: PlanDestination[] = skeleton.map(({ destination, after, releasedBy }) => ({
    name: destination.name,
    inputTopic: destinationInputTopic(name, mode, destination.name),
    group: destinationGroup(name, destination.name),
    sink: canonicalSink(destination.sink),
    ...(destination.compensate === undefined
      ? {}
      : {
          compensation: {
            sink: canonicalSink(destination.compensate),
            inputTopic: compensationInputTopic(name, destination.name),
            group: compensationGroup(name, destination.name),
          },
        }),
    timeoutMs: destination.timeoutMs ?? DEFAULTS.timeoutMs,
    retry: retryPlan(destination),
    concurrency: destination.concurrency ?? DEFAULTS.concurrency,
    ordering: destination.ordering ?? DEFAULTS.ordering,
    circuitBreaker: circuitBreakerPlan(destination),
    after,
    releasedBy,
    next: skeleton
      .filter((child) => child.releasedBy === 'worker' && child.after[0] === destination.name)
      .map((child) => child.destination.name),
  }));

  const edges: PlanEdge[] = destinations.flatMap((destination): PlanEdge[] => {
    const via = destination.inputTopic;
    if (destination.after.length === 0) return [{ from: 'router', to: destination.name, via, kind: 'direct' }];
    const kind = destination.releasedBy === 'tracker' ? 'join' : 'direct';
    return destination.after.map((parent) => ({ from: parent, to: destination.name, via, kind }));
  });

  const completions = completionsTopic(name);
  const dlqTopic = topology.dlq?.topic ?? defaultDlqTopic(name);
  const sequencerSpec = topology.ordering?.sequencer;
  const groups = { router: roleGroup(name, 'router'), tracker: roleGroup(name, 'tracker'), sequencer: roleGroup(name, 'sequencer') };
  const sequencer =
    sequencerSpec === undefined
      ? undefined
      : { output: sequencerSpec.output, holdMs: sequencerSpec.holdMs ?? DEFAULTS.sequencerHoldMs, group: groups.sequencer };

  const topic = (name: string, purpose: TopicPurpose, derived: boolean, count = partitions): PlanTopic => ({ name, partitions: count, purpose, derived });
  const topics: PlanTopic[] = [
    // Source topics are the user's: `topics create` makes one only when it is missing (a demo,
    // a first run), with `partitions`, and never checks an existing one's count.
    ...source.topics.map((name) => topic(name, 'source', false)),
    ...destinations.map((destination) => topic(destination.inputTopic, 'destination-input', true)),
    topic(completions, 'completions', true),
    topic(dlqTopic, 'dlq', true),
    ...(sequencer === undefined ? [] : [topic(sequencer.output, 'sequencer-output', true)]),
    ...destinations.flatMap((destination) => {
      const sink = kafkaSinkTopic(destination.sink);
      const compensate = kafkaSinkTopic(destination.compensation?.sink);
      return [
        ...(destination.compensation === undefined ? [] : [topic(destination.compensation.inputTopic, 'compensation-input', true)]),
        ...(sink === undefined ? [] : [topic(sink.topic, 'sink', false, sink.partitions)]),
        ...(compensate === undefined ? [] : [topic(compensate.topic, 'compensation', false, compensate.partitions)]),
      ];
    }),
  ].sort((a, b) => compareText(a.name, b.name));

  const roles: PlanRole[] = [
    { role: 'router', group: groups.router, consumes: [...source.topics] },
    ...destinations.map((destination): PlanRole => ({
      role: 'worker',
      group: destination.group,
      consumes: [destination.inputTopic],
      destination: destination.name,
    })),
    // A destination's compensations run in its worker process, in their own group.
    ...destinations.flatMap((destination): PlanRole[] =>
      destination.compensation === undefined
        ? []
        : [{ role: 'worker', group: destination.compensation.group, consumes: [destination.compensation.inputTopic], destination: destination.name }],
    ),
    { role: 'tracker', group: groups.tracker, consumes: [completions] },
    // The tracker writes each event's completed/failed record to the completions topic; the sequencer orders those.
    ...(sequencer === undefined ? [] : [{ role: 'sequencer', group: groups.sequencer, consumes: [completions] } as const]),
  ];

  const normalised = {
    name,
    mode,
    partitions,
    source,
    destinations: destinations.map(({ name: destinationName, sink, compensation, timeoutMs, retry, concurrency, ordering, circuitBreaker, after }) => ({
      name: destinationName,
      sink,
      compensate: compensation?.sink,
      timeoutMs,
      retry,
      concurrency,
      ordering,
      circuitBreaker,
      // A set of parents: listing them in another order is the same plan.
      after: mode === 'dag' ? [...after].sort(compareText) : [],
    })),
    dedup: { ttlSeconds: topology.dedup?.ttlSeconds ?? DEFAULTS.dedupTtlSeconds },
    sequencer: sequencer === undefined ? undefined : { output: sequencer.output, holdMs: sequencer.holdMs },
    dlqTopic,
  };

  const rollout =
    topology.rollout === undefined
      ? undefined
      : { percent: topology.rollout.percent, plan: compile({ ...topology, mode: topology.rollout.to, rollout: undefined }) };

  const shadow = topology.shadow === undefined ? undefined : compile(shadowTopology(topology));

  // The rollout plan's inputs exist before any key is sent there; the shadow's before it starts.
  const extra = [...(rollout?.plan.topics ?? []), ...(shadow?.topics ?? [])];
  const allTopics = extra.length === 0 ? topics : [...topics, ...extra.filter((t, index) => !topics.some((own) => own.name === t.name) && extra.findIndex((e) => e.name === t.name) === index)].sort((a, b) => compareText(a.name, b.name));

  return deepFreeze({
    id: `${name}@${shortHash({ ...normalised, rollout: topology.rollout, shadow: topology.shadow })}`,
    name,
    mode,
    source,
    partitions,
    destinations,
    edges,
    topics: allTopics,
    roles,
    completionsTopic: completions,
    dlqTopic,
    dedup: normalised.dedup,
    ...(sequencer === undefined ? {} : { sequencer }),
    ...(rollout === undefined ? {} : { rollout }),
    ...(shadow === undefined ? {} : { shadow }),
    groups,
    slices: slicesOf(destinations, source, groups, completions, sequencer),
  });
}

/**
 * Each role's slice of the plan. Derived from the plan's own fields, never hashed into the
 * plan id: the id names what the topology means, the slices only spell it out per role.
 */
function slicesOf(destinations: readonly PlanDestination[], source: PlanSource, groups: Plan['groups'], completions: string, sequencer: Plan['sequencer']): PlanSlices {
  const inputTopicOf = new Map(destinations.map((d) => [d.name, d.inputTopic]));
  return {
    router: {
      group: groups.router,
      consumes: [...source.topics],
      first: destinations.filter((d) => d.releasedBy === 'router').map((d) => ({ destination: d.name, topic: d.inputTopic })),
    },
    workers: [
      ...destinations.map(
        (d): WorkerSlice => ({ destination: d.name, kind: 'write', group: d.group, inputTopic: d.inputTopic, doneKeyName: d.name, nextTopics: d.next.map((child) => inputTopicOf.get(child)!) }),
      ),
      ...destinations.flatMap((d): WorkerSlice[] =>
        d.compensation === undefined
          ? []
          : [{ destination: d.name, kind: 'compensation', group: d.compensation.group, inputTopic: d.compensation.inputTopic, doneKeyName: compensationDoneKeyName(d.name), nextTopics: [] }],
      ),
    ],
    tracker: {
      group: groups.tracker,
      consumes: [completions],
      joinTopics: Object.fromEntries(destinations.filter((d) => d.releasedBy === 'tracker').map((d) => [d.name, d.inputTopic])),
      compensationTopics: Object.fromEntries(destinations.flatMap((d) => (d.compensation === undefined ? [] : [[d.name, d.compensation.inputTopic]]))),
      descendants: descendantsOf(destinations),
    },
    ...(sequencer === undefined ? {} : { sequencer: { group: sequencer.group, consumes: [completions], output: sequencer.output, holdMs: sequencer.holdMs } }),
  };
}

/** Per destination, every destination that runs after it (transitively), in topology order. */
function descendantsOf(destinations: readonly PlanDestination[]): Record<string, string[]> {
  const children = new Map<string, string[]>(destinations.map((d) => [d.name, []]));
  for (const destination of destinations) for (const parent of destination.after) children.get(parent)!.push(destination.name);
  const result = new Map<string, string[]>();
  const collect = (name: string): string[] => {
    const known = result.get(name);
    if (known) return known;
    const all = new Set<string>();
    for (const child of children.get(name)!) {
      all.add(child);
      for (const grandchild of collect(child)) all.add(grandchild);
    }
    const ordered = destinations.map((d) => d.name).filter((n) => all.has(n));
    result.set(name, ordered);
    return ordered;
  };
  return Object.fromEntries(destinations.map((d) => [d.name, collect(d.name)]));
}

function planSource(topology: Topology): PlanSource {
  const { source } = topology;
  return {
    topics: source.topics === undefined ? (source.topic === undefined ? [] : [source.topic]) : [...source.topics],
    format: source.format ?? 'json',
    ...(source.schema === undefined ? {} : { schema: source.schema }),
    keyPath: fieldPath(source.key),
    idPath: fieldPath(source.id),
  };
}

function retryPlan(destination: TopologyDestination): RetryPlan {
  const retry = destination.retry ?? {};
  const defaults = DEFAULTS.retry;
  return {
    maxAttempts: retry.maxAttempts ?? defaults.maxAttempts,
    initialDelayMs: retry.initialDelayMs ?? defaults.initialDelayMs,
    maxDelayMs: retry.maxDelayMs ?? defaults.maxDelayMs,
    budgetRatio: retry.budgetRatio ?? defaults.budgetRatio,
    budgetWindowMs: retry.budgetWindowMs ?? defaults.budgetWindowMs,
  };
}

function circuitBreakerPlan(destination: TopologyDestination): CircuitBreakerPlan {
  const breaker = destination.circuitBreaker ?? {};
  const defaults = DEFAULTS.circuitBreaker;
  return {
    failureRatio: breaker.failureRatio ?? defaults.failureRatio,
    minRequests: breaker.minRequests ?? defaults.minRequests,
    windowMs: breaker.windowMs ?? defaults.windowMs,
    halfOpenAfterMs: breaker.halfOpenAfterMs ?? defaults.halfOpenAfterMs,
  };
}

/** A sink config with `type` first and the other fields sorted, so the plan's JSON does not depend on YAML order. */
function canonicalSink(config: SinkConfig): SinkConfig {
  const { type, ...rest } = config;
  return { type, ...(canonical(rest) as Record<string, unknown>) };
}

/** Plain data with object keys sorted, recursively; undefined fields dropped. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => compareText(a, b));
    return Object.fromEntries(entries.map(([key, field]) => [key, canonical(field)]));
  }
  return value;
}

/** First 8 hex digits of the sha256 of the canonical JSON: short enough for a header, enough to tell plans apart. */
function shortHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex').slice(0, 8);
}

/** Code-point order, independent of the locale the planner happens to run in. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const field of Object.values(value)) deepFreeze(field);
  }
  return value;
}
