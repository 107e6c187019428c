/**
 * The compiled form of a topology: pure, immutable data. Runtime roles read only this;
 * they never look at the YAML. `compile()` (planner.ts) is the only producer.
 *
 * Derived names (docs/architecture.md §4):
 *   destination input topic  <name>.<mode>.<destination>
 *   completions              <name>.completions
 *   dead letters             <name>.dlq unless `dlq.topic` is set
 *   consumer groups          <name>.router, <name>.<destination>, <name>.tracker, <name>.sequencer
 */

export type Mode = 'cascade' | 'fanout' | 'dag';
export type Ordering = 'key' | 'none';
export type RoleName = 'router' | 'worker' | 'tracker' | 'sequencer';


/** A sink's configuration as written in the topology; `type` selects the sink module. */
export interface SinkConfig {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface RetryPlan {
  /** Total attempts including the first one. */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Retries may not exceed this share of first attempts over `budgetWindowMs`. */
  readonly budgetRatio: number;
  readonly budgetWindowMs: number;
}

export interface CircuitBreakerPlan {
  /** Open when failures / requests in the window reach this ratio... */
  readonly failureRatio: number;
  /** ...and at least this many requests were seen in the window. */
  readonly minRequests: number;
  readonly windowMs: number;
  /** After this long open, let probes through (half-open). */
  readonly halfOpenAfterMs: number;
}

export interface PlanSource {
  readonly topics: readonly string[];
  readonly format: 'json' | 'avro';
  readonly schema?: string;
  /** Field path of the causal (partition) key, e.g. ['customer', 'id']. */
  readonly keyPath: readonly string[];
  /** Field path of the event id (idempotency key). */
  readonly idPath: readonly string[];
}

export interface PlanDestination {
  readonly name: string;
  /** Topic this destination's worker consumes: <name>.<mode>.<destination>. */
  readonly inputTopic: string;
  /** Consumer group of this destination's worker: <name>.<destination>. */
  readonly group: string;
  readonly sink: SinkConfig;
  /**
   * Present when the destination declares `compensate`: the tracker puts an event on
   * `inputTopic` when another branch of it failed for good, and a compensation worker
   * (group `group`) writes it with `sink`, with the destination's retry and timeout.
   */
  readonly compensation?: PlanCompensation;
  readonly timeoutMs: number;
  readonly retry: RetryPlan;
  /** Max writes in flight for this destination (per worker process). */
  readonly concurrency: number;
  readonly ordering: Ordering;
  readonly circuitBreaker: CircuitBreakerPlan;
  /** Destinations this one must follow (dag `after`; cascade: the previous step). */
  readonly after: readonly string[];
  /**
   * Who puts events on this destination's input topic:
   * `router` (fan-out, cascade step 1, dag roots), `worker` (single parent: the parent's
   * worker hands on after success), `tracker` (join node: released when all parents completed).
   */
  readonly releasedBy: 'router' | 'worker' | 'tracker';
  /** Children this destination's worker hands each successful event to directly. */
  readonly next: readonly string[];
}

export interface PlanCompensation {
  readonly sink: SinkConfig;
  /** `<name>.compensate.<destination>` */
  readonly inputTopic: string;
  /** `<name>.<destination>.compensate` */
  readonly group: string;
}

export interface PlanEdge {
  /** 'router' or a destination name. */
  readonly from: string;
  /** A destination name. */
  readonly to: string;
  /** Topic the edge travels through (the `to` destination's input topic). */
  readonly via: string;
  /** `direct`: produced by `from`; `join`: released by the tracker once all parents completed. */
  readonly kind: 'direct' | 'join';
}

export type TopicPurpose = 'source' | 'destination-input' | 'completions' | 'dlq' | 'sequencer-output' | 'sink' | 'compensation' | 'compensation-input';

export interface PlanTopic {
  readonly name: string;
  readonly partitions: number;
  readonly purpose: TopicPurpose;
  /** Source, sink and compensation topics belong to the user: `topics create` creates them only when missing and checks partition counts of `derived` ones only. */
  readonly derived: boolean;
}

export interface PlanRole {
  readonly role: RoleName;
  /** Consumer group this role reads with. */
  readonly group: string;
  /** Topics this role consumes. */
  readonly consumes: readonly string[];
  /** For `worker`: the destination. */
  readonly destination?: string;
}

export interface Plan {
  /** `<name>@<short hash of the normalised topology>`; carried by every record (fy-plan). */
  readonly id: string;
  readonly name: string;
  readonly mode: Mode;
  readonly source: PlanSource;
  /** Partition count of derived topics. */
  readonly partitions: number;
  /** In topology order. */
  readonly destinations: readonly PlanDestination[];
  readonly edges: readonly PlanEdge[];
  /** Every topic the plan touches, sorted by name. */
  readonly topics: readonly PlanTopic[];
  readonly roles: readonly PlanRole[];
  readonly completionsTopic: string;
  readonly dlqTopic: string;
  readonly dedup: { readonly ttlSeconds: number };
  readonly sequencer?: { readonly output: string; readonly holdMs: number; readonly group: string };
  /**
   * `rollout: { to, percent }`: `percent` of the keys, by a stable hash bucket, run in
   * `plan`, the same topology compiled in mode `to`; the rest run in this plan.
   */
  readonly rollout?: { readonly percent: number; readonly plan: Plan };
  /**
   * `shadow:`: a second plan named `<name>-shadow` (its own topics, groups and Redis keys)
   * that reads the same source and writes only to dry-run destinations.
   */
  readonly shadow?: Plan;
  readonly groups: {
    readonly router: string;
    readonly tracker: string;
    readonly sequencer: string;
  };
  /** What each role reads of this plan (see PlanSlices). */
  readonly slices: PlanSlices;
}

/**
 * What each role reads of the plan, derived once by the planner so that no role re-derives
 * it from the destinations (which topics come first, where a step hands on, which done-keys
 * it writes, what runs after what). Plain data like the rest of the plan.
 */
export interface PlanSlices {
  readonly router: RouterSlice;
  /** Each destination's worker in topology order, then each compensation worker in topology order. */
  readonly workers: readonly WorkerSlice[];
  readonly tracker: TrackerSlice;
  /** Present when the topology has `ordering.sequencer`. */
  readonly sequencer?: SequencerSlice;
}

export interface RouterSlice {
  readonly group: string;
  readonly consumes: readonly string[];
  /** The destinations the router releases (fan-out: all; cascade: the first; dag: the roots), in topology order. */
  readonly first: readonly { readonly destination: string; readonly topic: string }[];
}

export interface WorkerSlice {
  readonly destination: string;
  /** `write`: the destination's worker; `compensation`: the worker that undoes its writes. */
  readonly kind: 'write' | 'compensation';
  readonly group: string;
  readonly inputTopic: string;
  /**
   * Name under which its Redis done-keys are kept, also its `destination` metric label: the
   * destination's name, or `<destination>.compensate` (names hold no '.', so never another's).
   */
  readonly doneKeyName: string;
  /** Input topics of the steps it hands each written event to directly; none for a compensation. */
  readonly nextTopics: readonly string[];
}

export interface TrackerSlice {
  readonly group: string;
  readonly consumes: readonly string[];
  /** Per join destination (several `after`): the input topic the tracker releases it onto. */
  readonly joinTopics: Readonly<Record<string, string>>;
  /** Per destination that declares `compensate`: its compensation worker's input topic. */
  readonly compensationTopics: Readonly<Record<string, string>>;
  /** Per destination, every destination that runs after it, transitively, in topology order. */
  readonly descendants: Readonly<Record<string, readonly string[]>>;
}

export interface SequencerSlice {
  readonly group: string;
  readonly consumes: readonly string[];
  readonly output: string;
  readonly holdMs: number;
}
