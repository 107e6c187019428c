/**
 * `/metrics` after a real run (router, workers, tracker on the real broker and Redis) holds
 * every series of the catalogue with `topology`/`plan` (and `destination`) labels, and its
 * values match what the run did: events in, copies routed, writes by outcome, retries and
 * calls of a flaky destination, dead letters by class, router dedup hits, end-to-end latency
 * and branch spread per completed event, sequencer gauges at rest, and consumer lag that
 * counts a backlog and drains.
 */
import { select as series, sum as total, type Sample } from '../../../src/measure/prom-text.js';
import { LagCollector, lagTargets } from '../../../src/observability/lag.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { failAtC, fanoutToABC, serveMetrics, type MetricsEndpoint } from '../../helpers/metrics.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { eventually, testLogger } from '../../helpers/servers.js';

test('/metrics after a fan-out run with a flaky destination holds every series with the values of the run', async () => {
  const pipeline = await TestPipeline.create(fanoutToABC({ c: 'ordering: none', extra: "ordering: { sequencer: { output: '{name}.sequenced', holdMs: 60000 } }" }));
  const { plan, shared } = pipeline;
  let metrics: MetricsEndpoint | undefined;
  const lag = new LagCollector({ kafka: shared.kafka, metrics: shared.metrics, logger: testLogger(), targets: () => lagTargets(plan), intervalMs: 60_000 });
  try {
    const labels = { topology: plan.name, plan: plan.id };
    const { records, eventIds } = pipeline.samples(120, 12);
    const flaky = new Set(eventIds.slice(0, 10)); // fail their first call to c, then succeed
    const doomed = new Set(eventIds.slice(20, 25)); // fail all 3 calls to c: dead-lettered
    failAtC(pipeline, flaky, doomed);
    const invalid = [
      { key: 'x', value: Buffer.from('not json'), headers: {} },
      { key: 'y', value: Buffer.from('{"customerId":"y"}'), headers: {} }, // no event id
    ];
    // A backlog before any role runs: the router group has committed nothing, so all of it is lag.
    await pipeline.produce([...records, ...invalid]);
    await pipeline.produce(records.slice(0, 6)); // redelivered by the producer: router dedup hits
    const produced = records.length + invalid.length + 6;
    await lag.collect();
    metrics = await serveMetrics(shared.registry);
    const scrape = metrics.samples;
    const backlog = await scrape();
    const routerLag = series(backlog, 'flowyard_consumer_lag', { ...labels, group: plan.groups.router });
    expect(routerLag.map((s) => s.labels.partition).sort()).toEqual(['0', '1', '2']);
    expect(routerLag.every((s) => s.labels.topic === plan.source.topics[0])).toBe(true);
    expect(total(routerLag, 'flowyard_consumer_lag')).toBe(produced);

    await pipeline.start(['router', 'worker', 'tracker', 'sequencer']);
    expect(await eventually(() => pipeline.outcomes.length === eventIds.length && pipeline.deadLetters.length === invalid.length + doomed.size, 120_000, 200)).toBe(true);
    // The tracker observes latency and spread right after its verdicts; the workers' gauges settle after their last write.
    expect(await eventually(async () => total(await scrape(), 'flowyard_end_to_end_latency_seconds_count', labels) === eventIds.length - doomed.size, 30_000)).toBe(true);
    // The router writes the destinations' input topics in transactions; the workers commit past
    // each transaction's marker too, so a drained partition shows lag 0 (not 1).
    let lagging: Sample[] = [];
    const lagDrained = async () => {
      await lag.collect();
      const lags = series(await scrape(), 'flowyard_consumer_lag', labels);
      lagging = lags.filter((s) => s.value > 0);
      return lags.length > 0 && lagging.length === 0;
    };
    await eventually(lagDrained, 60_000, 500);
    expect(lagging).toEqual([]);
    const samples = await scrape();
    const of = (name: string, extra: Record<string, string> = {}) => total(samples, name, { ...labels, ...extra });

    // Router
    expect(of('flowyard_events_in_total')).toBe(produced);
    for (const destination of ['a', 'b', 'c']) expect({ destination, routed: of('flowyard_events_routed_total', { destination }) }).toEqual({ destination, routed: eventIds.length });
    expect(of('flowyard_dedup_hits_total', { stage: 'router' })).toBe(6);
    expect(of('flowyard_dlq_records_total', { destination: 'router', class: 'invalid' })).toBe(invalid.length);

    // Workers: healthy destinations write each event once; c retries the flaky ones and dead-letters the doomed.
    for (const destination of ['a', 'b']) {
      expect({ destination, ok: of('flowyard_writes_total', { destination, outcome: 'ok' }), calls: of('flowyard_destination_calls_total', { destination }) }).toEqual({
        destination,
        ok: eventIds.length,
        calls: eventIds.length,
      });
      expect(of('flowyard_write_duration_seconds_count', { destination })).toBe(eventIds.length);
      expect(of('flowyard_retries_total', { destination })).toBe(0);
    }
    const cCalls = eventIds.length + flaky.size + doomed.size * 2;
    expect(of('flowyard_writes_total', { destination: 'c', outcome: 'ok' })).toBe(eventIds.length - doomed.size);
    expect(of('flowyard_writes_total', { destination: 'c', outcome: 'dead_letter' })).toBe(doomed.size);
    expect(of('flowyard_writes_total', { destination: 'c', outcome: 'retried' })).toBe(flaky.size + doomed.size * 2);
    expect(of('flowyard_writes_total', { outcome: 'duplicate' })).toBe(0);
    expect(of('flowyard_retries_total', { destination: 'c' })).toBe(flaky.size + doomed.size * 2);
    expect(of('flowyard_destination_calls_total', { destination: 'c' })).toBe(cCalls);
    expect(of('flowyard_write_duration_seconds_count', { destination: 'c' })).toBe(cCalls);
    // Retry amplification as the dashboard computes it: calls / events decided.
    const decided = of('flowyard_writes_total', { destination: 'c', outcome: 'ok' }) + of('flowyard_writes_total', { destination: 'c', outcome: 'dead_letter' });
    expect(of('flowyard_destination_calls_total', { destination: 'c' }) / decided).toBeCloseTo(cCalls / eventIds.length, 6);
    const destinationDeadLetters = pipeline.deadLetters.filter((r) => r.headers[HEADER.destination] === 'c');
    expect(destinationDeadLetters.length).toBe(doomed.size);
    for (const errorClass of new Set(destinationDeadLetters.map((r) => r.headers[HEADER.errorClass]!))) {
      expect(of('flowyard_dlq_records_total', { destination: 'c', class: errorClass })).toBe(destinationDeadLetters.filter((r) => r.headers[HEADER.errorClass] === errorClass).length);
    }
    expect(of('flowyard_dlq_records_total')).toBe(pipeline.deadLetters.length);
    for (const destination of ['a', 'b', 'c']) {
      expect(series(samples, 'flowyard_circuit_state', { ...labels, destination }).map((s) => s.value)).toEqual([0]);
      expect(series(samples, 'flowyard_in_flight', { ...labels, destination }).map((s) => s.value)).toEqual([0]);
      expect(series(samples, 'flowyard_buffered_records', { ...labels, destination }).map((s) => s.value)).toEqual([0]);
      expect(series(samples, 'flowyard_paused_partitions', { ...labels, group: `${plan.name}.${destination}` }).map((s) => s.value)).toEqual([0]);
    }

    // Tracker: one latency and one spread observation per completed event.
    const completed = pipeline.outcomes.filter((o) => o.status === 'completed').length;
    expect(completed).toBe(eventIds.length - doomed.size);
    expect(of('flowyard_end_to_end_latency_seconds_count')).toBe(completed);
    expect(of('flowyard_end_to_end_latency_seconds_sum')).toBeGreaterThan(0);
    expect(of('flowyard_branch_spread_seconds_count')).toBe(completed);
    expect(of('flowyard_end_to_end_latency_seconds_bucket', { le: '+Inf' })).toBe(completed);

    // Lag: every group of the plan, per partition of what it consumes, drained to 0.
    const groups = new Set(series(samples, 'flowyard_consumer_lag', labels).map((s) => s.labels.group));
    expect([...groups].sort()).toEqual(plan.roles.map((r) => r.group).sort());

    // Sequencer: every verdict arrived in order within holdMs, so nothing is held, skipped or late.
    expect(series(samples, 'flowyard_sequencer_buffered_events', labels).map((s) => s.value)).toEqual([0]);
    expect(of('flowyard_sequencer_gaps_skipped_total')).toBe(0);
    expect(of('flowyard_sequencer_late_events_total')).toBe(0);

    // Every flowyard series carries topology and plan, and no label value is an event id or key.
    const ids = new Set([...eventIds, ...records.map((r) => String(r.key))]);
    const own = samples.filter((s) => s.name.startsWith('flowyard_') && !s.name.startsWith('flowyard_process_'));
    expect(own.filter((s) => s.labels.topology !== plan.name || s.labels.plan !== plan.id)).toEqual([]);
    expect(own.filter((s) => Object.values(s.labels).some((v) => ids.has(v)))).toEqual([]);

    // The series with nothing to count in this run are declared with their labels.
    const text = await metrics.text();
    for (const name of [
      'flowyard_sequencer_buffered_events',
      'flowyard_sequencer_gaps_skipped_total',
      'flowyard_sequencer_late_events_total',
      'flowyard_compensations_total',
      'flowyard_retry_budget_refusals_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const labelNames = (name: string) => (shared.registry.getSingleMetric(name) as unknown as { labelNames: string[] }).labelNames;
    expect(labelNames('flowyard_sequencer_gaps_skipped_total')).toEqual(['topology', 'plan']);
    expect(labelNames('flowyard_retry_budget_refusals_total')).toEqual(['topology', 'plan', 'destination']);
  } finally {
    await lag.stop();
    await metrics?.close();
    await pipeline.close();
  }
});
