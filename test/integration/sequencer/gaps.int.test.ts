/**
 * The sequencer alone on real Kafka and Redis, fed the tracker's verdicts directly: gaps
 * skipped after holdMs with the late arrival dead-lettered, a failure closing its gap at once,
 * and a graceful restart that neither repeats nor loses output.
 */
import { DedupStore } from '../../../src/dedup/store.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { Sequencer } from '../../../src/sequencer/sequencer.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { planGroups, untilDrained } from '../../helpers/read-topic.js';
import { SequencedOutput, checkSequenced, outcome, produceOutcomes, readSequenced } from '../../helpers/sequencer.js';
import { eventually } from '../../helpers/servers.js';

function topology(holdMs: number): string {
  return `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: store
    sink: { type: kafka, topic: '{name}.store' }
    ordering: none
ordering:
  sequencer: { output: '{name}.sequenced', holdMs: ${holdMs} }
`;
}

async function metricValue(pipeline: TestPipeline, name: string): Promise<number> {
  const metric = await pipeline.shared.metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).filter((v) => v.labels.plan === pipeline.plan.id).reduce((sum, v) => sum + v.value, 0);
}

describe('sequencer', () => {
  let pipeline: TestPipeline;
  let output: SequencedOutput;

  afterEach(async () => {
    await output?.stop();
    await pipeline?.close();
  });

  test('a gap is skipped after holdMs, its late arrival is dead-lettered as late, and later events still flow', async () => {
    pipeline = await TestPipeline.create(topology(1_500));
    output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
    const { kafka } = pipeline.shared;
    const plan = pipeline.plan;
    await pipeline.start(['sequencer']);

    await produceOutcomes(kafka, plan, [outcome(plan, 'a', 1), outcome(plan, 'a', 3), outcome(plan, 'a', 4), outcome(plan, 'b', 2), outcome(plan, 'b', 1)]);
    expect(await eventually(() => output.seqsOf('b').length === 2 && output.seqsOf('a').length >= 1)).toBe(true);
    expect(output.seqsOf('b')).toEqual([1, 2]);
    expect(output.seqsOf('a')).toEqual([1]); // 3 and 4 wait for 2
    expect(await eventually(() => output.seqsOf('a').length === 3, 20_000)).toBe(true);
    expect(output.seqsOf('a')).toEqual([1, 3, 4]);
    // The counter moves once the flush that skipped the gap is marked committed, a moment after its output is readable.
    expect(await eventually(async () => (await metricValue(pipeline, 'flowyard_sequencer_gaps_skipped_total')) === 1, 20_000)).toBe(true);

    await produceOutcomes(kafka, plan, [outcome(plan, 'a', 2), outcome(plan, 'a', 5)]);
    expect(await eventually(() => output.seqsOf('a').length === 4 && pipeline.deadLetters.length === 1, 20_000)).toBe(true);
    expect(output.seqsOf('a')).toEqual([1, 3, 4, 5]);
    const [late] = pipeline.deadLetters;
    expect(late!.headers[HEADER.errorClass]).toBe('late');
    expect(late!.headers[HEADER.eventId]).toBe('a-2');
    expect(late!.headers[HEADER.destination]).toBe('sequencer');
    expect(late!.headers[HEADER.origin]).toMatch(new RegExp(`^${plan.completionsTopic}/\\d+/\\d+$`));
    expect(JSON.parse(late!.value!.toString())).toEqual({ key: 'a', seq: 2 }); // the event itself, not the verdict
    expect(await eventually(async () => (await metricValue(pipeline, 'flowyard_sequencer_late_events_total')) === 1, 20_000)).toBe(true);
    // The output carries the original bytes, keyed and headed like a routed copy.
    expect(output.records.find((r) => r.eventId === 'a-5')?.value).toBe(JSON.stringify({ key: 'a', seq: 5 }));
  });

  test('a failed event closes its gap at once, long before holdMs', async () => {
    pipeline = await TestPipeline.create(topology(30_000));
    output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
    const { kafka } = pipeline.shared;
    const plan = pipeline.plan;
    await pipeline.start(['sequencer']);

    await produceOutcomes(kafka, plan, [outcome(plan, 'k', 1), outcome(plan, 'k', 3), outcome(plan, 'k', 4)]);
    expect(await eventually(() => output.seqsOf('k').length === 1)).toBe(true);
    const failedAt = Date.now();
    await produceOutcomes(kafka, plan, [outcome(plan, 'k', 2, 'failed')]);
    expect(await eventually(() => output.seqsOf('k').length === 3, 15_000)).toBe(true);
    expect(Date.now() - failedAt).toBeLessThan(15_000); // holdMs is 30 s: the failure, not the timer, closed the gap
    expect(output.seqsOf('k')).toEqual([1, 3, 4]);
    expect(await metricValue(pipeline, 'flowyard_sequencer_gaps_skipped_total')).toBe(0);
    expect(pipeline.deadLetters).toEqual([]);
  });

  test('a restart resumes from the stored next expected seq: nothing repeated, held events still come out', async () => {
    pipeline = await TestPipeline.create(topology(30_000));
    output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
    const { kafka } = pipeline.shared;
    const plan = pipeline.plan;
    const keys = Array.from({ length: 20 }, (_, i) => `key${i}`);
    await pipeline.start(['sequencer']);
    // Per key 1..5 in order, then 7 and 8 held behind the missing 6.
    await produceOutcomes(kafka, plan, keys.flatMap((k) => [1, 2, 3, 4, 5, 7, 8].map((seq) => outcome(plan, k, seq))));
    expect(await eventually(() => output.records.length === keys.length * 5)).toBe(true);
    await pipeline.stopRoles();

    await pipeline.start(['sequencer']);
    await produceOutcomes(kafka, plan, keys.flatMap((k) => [6, 9].map((seq) => outcome(plan, k, seq))));
    expect(await eventually(() => output.records.length >= keys.length * 9, 60_000)).toBe(true);
    await untilDrained(kafka, planGroups(plan, ['sequencer'])); // a repeat would be there now
    const expected = keys.flatMap((k) => Array.from({ length: 9 }, (_, i) => `${k}-${i + 1}`));
    expect(checkSequenced(await readSequenced(kafka, plan), expected)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
  });

  test('a full buffer pauses consumption and drops nothing', async () => {
    pipeline = await TestPipeline.create(topology(2_000));
    output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
    const { shared, plan } = pipeline;
    const sequencer = new Sequencer(
      {
        plan,
        env: shared.env,
        kafka: shared.kafka,
        redis: shared.redis,
        metrics: shared.metrics,
        dedup: new DedupStore(shared.redis, plan.name, plan.dedup.ttlSeconds),
        logger: shared.logger.child({ plan: plan.id }),
      },
      { maxPerGroup: 5, maxBuffered: 20 },
    );
    let maxPaused = 0;
    const sample = setInterval(() => {
      void (async () => {
        const paused = (await shared.metrics.pausedPartitions.get()).values.find((v) => v.labels.group === plan.groups.sequencer)?.value ?? 0;
        maxPaused = Math.max(maxPaused, paused);
      })();
    }, 20);
    try {
      // seq 1 of each key never comes: everything else waits behind it until holdMs.
      const keys = ['a', 'b', 'c'];
      await produceOutcomes(shared.kafka, plan, keys.flatMap((k) => Array.from({ length: 60 }, (_, i) => outcome(plan, k, i + 2))));
      await sequencer.start();
      expect(await eventually(() => output.records.length >= keys.length * 60, 90_000)).toBe(true);
      await untilDrained(shared.kafka, planGroups(plan, ['sequencer'])); // a repeat would be there now
      const expected = keys.flatMap((k) => Array.from({ length: 60 }, (_, i) => `${k}-${i + 2}`));
      expect(checkSequenced(await readSequenced(shared.kafka, plan), expected)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
      expect(maxPaused).toBeGreaterThan(0); // the buffer filled and consumption paused until the gaps were skipped
      expect(await metricValue(pipeline, 'flowyard_sequencer_gaps_skipped_total')).toBeGreaterThanOrEqual(keys.length);
    } finally {
      clearInterval(sample);
      await sequencer.stop();
    }
  });
});
