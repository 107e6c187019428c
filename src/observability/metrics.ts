/**
 * Every metric flowyard exports, declared once here (Benthos-style: one list, components
 * report into it). Series carry `topology` and `plan`, and `destination` where it applies;
 * never event ids or keys, so cardinality stays bounded by the topology's size.
 * Names follow Prometheus conventions: `_total` counters, `_seconds` durations, base units.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flowyard_process_' });
  return registry;
}

/** Write outcomes per destination (`flowyard_writes_total{outcome}`). */
export type WriteOutcome = 'ok' | 'duplicate' | 'retried' | 'dead_letter';

/** Circuit state as a number, so dashboards can plot it: 0 closed, 1 half-open, 2 open. */
export const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

const PLAN = ['topology', 'plan'] as const;
const DEST = ['topology', 'plan', 'destination'] as const;
/** Per consumer group: a group is `<topology>.<role or destination>`, so these stay as few as the plan's roles. */
const GROUP = ['topology', 'plan', 'group'] as const;
const PARTITION = ['topology', 'plan', 'group', 'topic', 'partition'] as const;
/** 1 ms .. ~65 s: covers a cache write and a slow webhook alike. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 65];

export class Metrics {
  readonly eventsIn: Counter<(typeof PLAN)[number]>;
  readonly eventsRouted: Counter<(typeof DEST)[number]>;
  readonly routerTransactions: Counter<(typeof PLAN)[number]>;
  readonly routerBatches: Counter<(typeof PLAN)[number]>;
  readonly writes: Counter<(typeof DEST)[number] | 'outcome'>;
  readonly destinationCalls: Counter<(typeof DEST)[number]>;
  readonly writeDuration: Histogram<(typeof DEST)[number]>;
  readonly endToEndLatency: Histogram<(typeof PLAN)[number]>;
  readonly branchSpread: Histogram<(typeof PLAN)[number]>;
  readonly retries: Counter<(typeof DEST)[number]>;
  readonly retryBudgetRefusals: Counter<(typeof DEST)[number]>;
  readonly circuitState: Gauge<(typeof DEST)[number]>;
  readonly dlqRecords: Counter<(typeof PLAN)[number] | 'destination' | 'class'>;
  readonly dedupHits: Counter<(typeof PLAN)[number] | 'stage'>;
  readonly inFlight: Gauge<(typeof DEST)[number]>;
  readonly buffered: Gauge<(typeof DEST)[number]>;
  readonly pausedPartitions: Gauge<(typeof GROUP)[number]>;
  readonly consumerLag: Gauge<(typeof PARTITION)[number]>;
  readonly sequencerBuffered: Gauge<(typeof PLAN)[number]>;
  readonly sequencerGaps: Counter<(typeof PLAN)[number]>;
  readonly sequencerLate: Counter<(typeof PLAN)[number]>;
  readonly compensations: Counter<(typeof DEST)[number] | 'outcome'>;
  readonly oversizedRecords: Counter<(typeof DEST)[number] | 'topic' | 'outcome'>;
  /** The state in Redis is the topology's: every plan of it shows the same value. */
  readonly redisStateLost: Gauge<(typeof PLAN)[number]>;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.eventsIn = new Counter({ name: 'flowyard_events_in_total', help: 'Source records the router consumed.', labelNames: PLAN, registers });
    this.eventsRouted = new Counter({ name: 'flowyard_events_routed_total', help: 'Copies the router produced to a destination input topic.', labelNames: DEST, registers });
    this.routerTransactions = new Counter({
      name: 'flowyard_router_transactions_total',
      help: 'Kafka transactions the router committed; one carries the batches of one or more source partitions.',
      labelNames: PLAN,
      registers,
    });
    this.routerBatches = new Counter({ name: 'flowyard_router_batches_total', help: 'Source partition batches the router committed.', labelNames: PLAN, registers });
    this.writes = new Counter({
      name: 'flowyard_writes_total',
      help: 'Write attempts by outcome: ok, duplicate (done-key present, not written again), retried, dead_letter.',
      labelNames: [...DEST, 'outcome'],
      registers,
    });
    this.destinationCalls = new Counter({
      name: 'flowyard_destination_calls_total',
      // Retry amplification (calls per unique event) = this / flowyard_writes_total{outcome=~"ok|dead_letter"}: each event is decided once per destination.
      help: 'Calls made to a destination, retries included; divide by writes_total{outcome=~"ok|dead_letter"} (events decided) for calls per unique event.',
      labelNames: DEST,
      registers,
    });
    this.writeDuration = new Histogram({ name: 'flowyard_write_duration_seconds', help: 'Duration of one destination write attempt.', labelNames: DEST, buckets: LATENCY_BUCKETS, registers });
    this.endToEndLatency = new Histogram({
      name: 'flowyard_end_to_end_latency_seconds',
      help: 'From fy-ingested-at (router) to the event completed at every destination.',
      labelNames: PLAN,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.branchSpread = new Histogram({
      name: 'flowyard_branch_spread_seconds',
      help: 'Per event, the time between its fastest and its slowest destination completing: the coordination cost of fan-out.',
      labelNames: PLAN,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.retries = new Counter({ name: 'flowyard_retries_total', help: 'Retries scheduled after a failed attempt.', labelNames: DEST, registers });
    this.retryBudgetRefusals = new Counter({
      name: 'flowyard_retry_budget_refusals_total',
      help: 'Retries the retry budget held back (the event waits; it is not dropped).',
      labelNames: DEST,
      registers,
    });
    this.circuitState = new Gauge({ name: 'flowyard_circuit_state', help: 'Circuit breaker state per destination: 0 closed, 1 half-open, 2 open.', labelNames: DEST, registers });
    this.dlqRecords = new Counter({ name: 'flowyard_dlq_records_total', help: 'Dead-letter records written, by error class.', labelNames: [...PLAN, 'destination', 'class'], registers });
    this.dedupHits = new Counter({
      name: 'flowyard_dedup_hits_total',
      help: 'Events recognised as already done and not processed again (stage: router or a destination name).',
      labelNames: [...PLAN, 'stage'],
      registers,
    });
    this.inFlight = new Gauge({ name: 'flowyard_in_flight', help: 'Writes in flight per destination.', labelNames: DEST, registers });
    this.buffered = new Gauge({
      name: 'flowyard_buffered_records',
      help: 'Records a worker holds (queued + in flight); consumption pauses before this passes its bound.',
      labelNames: DEST,
      registers,
    });
    this.pausedPartitions = new Gauge({ name: 'flowyard_paused_partitions', help: 'Partitions paused for backpressure or an open circuit, per consumer group.', labelNames: GROUP, registers });
    this.consumerLag = new Gauge({
      name: 'flowyard_consumer_lag',
      help: 'Records not yet committed: high watermark minus committed offset (the whole partition when the group has not committed), per group and partition.',
      labelNames: PARTITION,
      registers,
    });
    this.sequencerBuffered = new Gauge({ name: 'flowyard_sequencer_buffered_events', help: 'Events the sequencer holds, waiting for a gap to close.', labelNames: PLAN, registers });
    this.sequencerGaps = new Counter({ name: 'flowyard_sequencer_gaps_skipped_total', help: 'Gaps the sequencer skipped after holdMs.', labelNames: PLAN, registers });
    this.sequencerLate = new Counter({ name: 'flowyard_sequencer_late_events_total', help: 'Events that arrived after their gap was skipped (sent to the DLQ as late).', labelNames: PLAN, registers });
    this.compensations = new Counter({ name: 'flowyard_compensations_total', help: 'Compensations by outcome (ok, dead_letter).', labelNames: [...DEST, 'outcome'], registers });
    this.oversizedRecords = new Counter({
      name: 'flowyard_oversized_records_total',
      help:
        "Records larger than their topic's max.message.bytes after the broker refused one, by what went instead: dead_letter (the event was dead-lettered oversized for that destination), value_omitted (a completions record went without the event's value).",
      labelNames: [...DEST, 'topic', 'outcome'],
      registers,
    });
    this.redisStateLost = new Gauge({
      name: 'flowyard_redis_state_lost',
      help: "1 while Redis has lost the topology's state (epoch key missing) and its roles wait for `flowyard state recover`, else 0.",
      labelNames: PLAN,
      registers,
    });
  }
}
