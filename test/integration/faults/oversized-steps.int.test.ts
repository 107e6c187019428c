/**
 * An event too large for a topic AFTER the router (a hand-made topic with a smaller
 * max.message.bytes than the source, or a completion carrying a large value) does not stall its
 * partition, on the real broker and Redis, through the generic worker (recording sinks stand in
 * for http/redis/postgres), the tracker and the sequencer:
 * 1. a hand-on copy too large for the next step's input: dead-lettered `oversized` for the next
 *    step (cut to fit a small DLQ), a `failed` report in its name so the tracker decides, and the
 *    key's later events go through both steps in order;
 * 2. a completion too large for the completions topic: sent without the value, the tracker still
 *    decides `completed`, the sequencer dead-letters the event it cannot output and goes on;
 * 3. a join release too large for the join's input: the tracker dead-letters it for the join,
 *    decides `failed` from its own report and compensates the parent that wrote;
 * 4. a sequenced output too large for the output topic: dead-lettered, the next seqs follow;
 * 5. a worker's own dead letter too large for the DLQ: cut to fit, the key goes on;
 * 6. a compensation too large for the compensation input: the tracker dead-letters it (class
 *    `compensation`, so `dlq replay` sends it back to the compensation worker) with a failed
 *    compensation report, and the event is settled.
 * Each time one log line and `flowyard_oversized_records_total` count it.
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { OutgoingRecord } from '../../../src/kafka/records.js';
import { SinkError } from '../../../src/sinks/sink.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';
import { SequencedOutput, checkSequenced } from '../../helpers/sequencer.js';
import { eventually } from '../../helpers/servers.js';
import { outsideKafka } from '../../helpers/outside-kafka.js';

/** The hand-made limit of the topic under test: well under the event, well over a sample event. */
const SMALL_LIMIT = 100 * 1024;
/** Raw bytes of the large event: 3x the small limit, so even a compressing codec cannot squeeze it under. */
const BIG_BYTES = 300 * 1024;
/** No gap skip during a test: an event the sequencer waited for would hold every later seq of its key. */
const HOLD_MS = 600_000;

/** Each test's own bound: its waits (up to 180 s) plus set-up and the drain. */
const TEST_TIMEOUT_MS = 240_000;

/** A JSON event of about `bytes` with a random (incompressible) payload, on `customer-0` between samples 4 and 5. */
function bigEvent(runId: string): { record: OutgoingRecord; eventId: string; value: Buffer } {
  const eventId = `${runId}-big`;
  const value = JSON.stringify({ eventId, customerId: 'customer-0', n: 4.5, blob: randomBytes(Math.ceil((BIG_BYTES * 3) / 4)).toString('base64') });
  return { record: { key: 'customer-0', value }, eventId, value: Buffer.from(value) };
}

async function limitTopics(limits: Record<string, number>): Promise<void> {
  // An operator's admin tool sets the topic configs.
  const admin = outsideKafka('oversized-steps-admin').admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: Object.entries(limits).map(([name, bytes]) => ({
        type: kafkajs.ConfigResourceTypes.TOPIC,
        name,
        configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

/** 15 sample events on one key with the big one after the fifth: all on one partition of every topic. */
async function produceAroundBig(pipeline: TestPipeline): Promise<{ eventIds: string[]; big: ReturnType<typeof bigEvent> }> {
  const { records, eventIds } = pipeline.samples(15, 1);
  const big = bigEvent(pipeline.runId);
  await pipeline.produce([...records.slice(0, 5), big.record, ...records.slice(5)]);
  return { eventIds, big };
}

async function oversizedCount(pipeline: TestPipeline, labels: Record<string, string>): Promise<number> {
  const metric = await pipeline.shared.metrics.oversizedRecords.get();
  return metric.values.filter((v) => Object.entries(labels).every(([name, value]) => (v.labels as Record<string, string | number | undefined>)[name] === value)).reduce((sum, v) => sum + v.value, 0);
}

test('a hand-on copy larger than the next step\'s input topic allows is dead-lettered oversized for that step, cut to fit the DLQ; the event fails there and the key\'s later events pass both steps in order', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 2
destinations:
  - { name: ledger, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
  - { name: archive, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
`);
  try {
    const archiveInput = pipeline.plan.destinations.find((d) => d.name === 'archive')!.inputTopic;
    await limitTopics({ [archiveInput]: SMALL_LIMIT, [pipeline.plan.dlqTopic]: SMALL_LIMIT });
    await pipeline.start(['router', 'worker', 'tracker']);
    const { eventIds, big } = await produceAroundBig(pipeline);

    expect(await eventually(() => pipeline.deadLetters.length > 0 && pipeline.finished('archive') === eventIds.length + 1 && new Set(pipeline.outcomes.map((o) => o.eventId)).size === eventIds.length + 1, 180_000)).toBe(true);
    await pipeline.drained();
    expect(pipeline.deadLetters).toHaveLength(1);
    const letter = pipeline.deadLetters[0]!;
    expect(letter.headers).toMatchObject({
      'fy-error-class': 'oversized',
      'fy-destination': 'archive',
      'fy-event-id': big.eventId,
      'fy-truncated': String(big.value.length),
      // The ledger's input record, which holds the whole event.
      'fy-origin': expect.stringMatching(new RegExp(`^${pipeline.plan.destinations[0]!.inputTopic.replace(/\./g, '\\.')}/\\d+/\\d+$`)),
      'fy-error': expect.stringContaining(`more than topic ${archiveInput} allows (max.message.bytes ${SMALL_LIMIT})`),
    });
    // The start of the event, cut to fit the DLQ's limit.
    expect(letter.value!.length).toBeLessThan(SMALL_LIMIT);
    expect(letter.value!.length).toBeGreaterThan(SMALL_LIMIT / 2);
    expect(big.value.subarray(0, letter.value!.length).equals(letter.value!)).toBe(true);

    // ledger wrote it; archive never got it and reports it failed (in ledger's name for archive).
    expect(checkExactlyOnceInOrder(await pipeline.written('ledger'), [...eventIds.slice(0, 5), big.eventId, ...eventIds.slice(5)])).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(checkExactlyOnceInOrder(await pipeline.written('archive'), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect((await pipeline.written('archive')).map((w) => w.eventId)).not.toContain(big.eventId);
    expect(pipeline.completions.filter((c) => c.eventId === big.eventId).map((c) => [c.destination, c.status])).toEqual(expect.arrayContaining([['ledger', 'ok'], ['archive', 'failed']]));
    const verdict = pipeline.outcomes.find((o) => o.eventId === big.eventId);
    expect(verdict).toMatchObject({ status: 'failed', failed: ['archive'] });
    expect([...new Set(pipeline.outcomes.filter((o) => o.status === 'completed').map((o) => o.eventId))].sort()).toEqual([...eventIds].sort());
    expect(await oversizedCount(pipeline, { destination: 'archive', topic: archiveInput, outcome: 'dead_letter' })).toBe(1);
  } finally {
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);

test('a completion larger than the completions topic allows goes without the value: the tracker decides completed, the sequencer dead-letters the event it cannot output and emits the key\'s later seqs', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - { name: ledger, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
  - { name: notify, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
ordering:
  sequencer: { output: '{name}.sequenced', holdMs: ${HOLD_MS} }
`);
  const output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
  try {
    // The completion carries the 300 KiB value; the copies fit their topics (the broker's default).
    const completionsLimit = 2 * SMALL_LIMIT;
    await limitTopics({ [pipeline.plan.completionsTopic]: completionsLimit });
    await pipeline.start(['router', 'worker', 'tracker', 'sequencer']);
    const { eventIds, big } = await produceAroundBig(pipeline);

    expect(await eventually(() => output.records.length >= eventIds.length && pipeline.deadLetters.length > 0, 180_000)).toBe(true);
    await pipeline.drained();
    for (const destination of ['ledger', 'notify']) {
      expect(checkExactlyOnceInOrder(await pipeline.written(destination), [...eventIds.slice(0, 5), big.eventId, ...eventIds.slice(5)])).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
      const report = pipeline.completions.find((c) => c.eventId === big.eventId && c.destination === destination);
      expect(report).toMatchObject({ status: 'ok', value: null, valueOmittedBytes: big.value.length });
    }
    expect(pipeline.outcomes.find((o) => o.eventId === big.eventId)).toMatchObject({ status: 'completed', value: null, valueOmittedBytes: big.value.length });

    expect(pipeline.deadLetters).toHaveLength(1);
    const letter = pipeline.deadLetters[0]!;
    expect(letter.headers).toMatchObject({
      'fy-error-class': 'oversized',
      'fy-destination': 'sequencer',
      'fy-event-id': big.eventId,
      'fy-seq': '6',
      'fy-truncated': String(big.value.length),
      'fy-error': expect.stringContaining(`the event's value (${big.value.length} bytes) was left out of its verdict`),
    });
    expect(letter.value!.length).toBe(0);
    // The worker's input record it names holds the whole event.
    expect(letter.headers['fy-origin']).toMatch(/\.fanout\.(ledger|notify)\/\d+\/\d+$/);

    expect(checkSequenced(output.records, eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(output.seqsOf('customer-0')).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(await oversizedCount(pipeline, { topic: pipeline.plan.completionsTopic, outcome: 'value_omitted' })).toBeGreaterThanOrEqual(2);
    expect(await oversizedCount(pipeline, { destination: 'sequencer', outcome: 'dead_letter' })).toBe(1);
  } finally {
    await output.stop();
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);

test('a join release larger than the join\'s input topic allows is dead-lettered oversized for the join; the tracker decides the event failed from its own report, compensates the parent that declares compensate, and releases the key\'s later events', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: dag
partitions: 2
destinations:
  - { name: a, sink: { type: http, url: 'http://127.0.0.1:9/unused' }, compensate: { type: http, url: 'http://127.0.0.1:9/undo' } }
  - { name: b, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
  - { name: j, after: [a, b], sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
`);
  try {
    const joinInput = pipeline.plan.slices.tracker.joinTopics['j']!;
    await limitTopics({ [joinInput]: SMALL_LIMIT });
    await pipeline.start(['router', 'worker', 'tracker']);
    const { eventIds, big } = await produceAroundBig(pipeline);

    // Distinct events: the tracker's retry after the refusal writes again what the broker had taken of the refused request (readers dedup).
    const progress = () => ({ finishedAtJ: pipeline.finished('j'), compensations: pipeline.compensations.length, outcomes: new Set(pipeline.outcomes.map((o) => o.eventId)).size });
    const expected = { finishedAtJ: eventIds.length + 1, compensations: 1, outcomes: eventIds.length + 1 };
    await eventually(() => JSON.stringify(progress()) === JSON.stringify(expected), 180_000);
    expect(progress()).toEqual(expected);
    await pipeline.drained();
    expect(pipeline.deadLetters).toHaveLength(1);
    const letter = pipeline.deadLetters[0]!;
    expect(letter.headers).toMatchObject({
      'fy-error-class': 'oversized',
      'fy-destination': 'j',
      'fy-event-id': big.eventId,
      'fy-error': expect.stringContaining(`the release of join destination j is`),
    });
    expect(letter.headers['fy-error']).toContain(`more than topic ${joinInput} allows (max.message.bytes ${SMALL_LIMIT})`);
    // The DLQ (broker default) takes the whole event: nothing cut.
    expect(letter.headers['fy-truncated']).toBeUndefined();
    expect(letter.value!.equals(big.value)).toBe(true);

    expect(checkExactlyOnceInOrder(await pipeline.written('j'), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(pipeline.completions.find((c) => c.eventId === big.eventId && c.destination === 'j')).toMatchObject({ status: 'failed' });
    expect(pipeline.outcomes.find((o) => o.eventId === big.eventId)).toMatchObject({ status: 'failed', failed: ['j'] });
    expect((await pipeline.written('a.compensate')).map((w) => w.eventId)).toEqual([big.eventId]);
    expect(await oversizedCount(pipeline, { destination: 'j', topic: joinInput, outcome: 'dead_letter' })).toBe(1);
  } finally {
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);

test('a sequenced output larger than the output topic allows is dead-lettered oversized by the sequencer, and the key\'s later seqs are emitted in order', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - { name: ledger, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
ordering:
  sequencer: { output: '{name}.sequenced', holdMs: ${HOLD_MS} }
`);
  const output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
  try {
    const outputTopic = pipeline.plan.sequencer!.output;
    await limitTopics({ [outputTopic]: SMALL_LIMIT });
    await pipeline.start(['router', 'worker', 'tracker', 'sequencer']);
    const { eventIds, big } = await produceAroundBig(pipeline);

    expect(await eventually(() => output.records.length >= eventIds.length && pipeline.deadLetters.length > 0, 180_000)).toBe(true);
    await pipeline.drained();
    expect(pipeline.outcomes.find((o) => o.eventId === big.eventId)).toMatchObject({ status: 'completed' });
    expect(pipeline.deadLetters).toHaveLength(1);
    const letter = pipeline.deadLetters[0]!;
    expect(letter.headers).toMatchObject({
      'fy-error-class': 'oversized',
      'fy-destination': 'sequencer',
      'fy-event-id': big.eventId,
      'fy-error': expect.stringContaining(`more than topic ${outputTopic} allows (max.message.bytes ${SMALL_LIMIT})`),
    });
    expect(letter.value!.equals(big.value)).toBe(true);
    expect(checkSequenced(output.records, eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(output.seqsOf('customer-0')).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(await oversizedCount(pipeline, { destination: 'sequencer', topic: outputTopic, outcome: 'dead_letter' })).toBe(1);
  } finally {
    await output.stop();
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);

test('a worker\'s own dead letter larger than the DLQ allows keeps the start of the value (fy-truncated, fy-origin) and the key\'s later events are written in order', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - { name: ledger, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
`);
  try {
    await limitTopics({ [pipeline.plan.dlqTopic]: SMALL_LIMIT });
    pipeline.behaviours.set('ledger', (record) => {
      if (record.eventId.endsWith('-big')) throw new SinkError('ledger refused: 422 document too large', 'permanent');
    });
    await pipeline.start(['router', 'worker', 'tracker']);
    const { eventIds, big } = await produceAroundBig(pipeline);

    await eventually(() => pipeline.deadLetters.length > 0 && pipeline.finished('ledger') === eventIds.length + 1, 180_000);
    expect({ deadLetters: pipeline.deadLetters.length, finished: pipeline.finished('ledger') }).toEqual({ deadLetters: 1, finished: eventIds.length + 1 });
    await pipeline.drained();
    const letter = pipeline.deadLetters[0]!;
    expect(letter.headers).toMatchObject({
      'fy-error-class': 'invalid',
      'fy-destination': 'ledger',
      'fy-event-id': big.eventId,
      'fy-truncated': String(big.value.length),
      'fy-error': 'ledger refused: 422 document too large',
      'fy-origin': expect.stringMatching(new RegExp(`^${pipeline.plan.destinations[0]!.inputTopic.replace(/\./g, '\\.')}/\\d+/\\d+$`)),
    });
    expect(letter.value!.length).toBeLessThan(SMALL_LIMIT);
    expect(letter.value!.length).toBeGreaterThan(SMALL_LIMIT / 2);
    expect(big.value.subarray(0, letter.value!.length).equals(letter.value!)).toBe(true);
    expect(checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(pipeline.completions.find((c) => c.eventId === big.eventId)).toMatchObject({ destination: 'ledger', status: 'failed' });
  } finally {
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);

test('a compensation larger than the compensation input allows is dead-lettered by the tracker (class compensation, the reason naming the topic) with a failed compensation report; the key\'s later events pass both steps', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 2
destinations:
  - { name: a, sink: { type: http, url: 'http://127.0.0.1:9/unused' }, compensate: { type: http, url: 'http://127.0.0.1:9/undo' } }
  - { name: b, sink: { type: http, url: 'http://127.0.0.1:9/unused' } }
`);
  try {
    const compensationInput = pipeline.plan.slices.tracker.compensationTopics['a']!;
    await limitTopics({ [compensationInput]: SMALL_LIMIT });
    pipeline.behaviours.set('b', (record) => {
      if (record.eventId.endsWith('-big')) throw new SinkError('b refused: 422', 'permanent');
    });
    await pipeline.start(['router', 'worker', 'tracker']);
    const { eventIds, big } = await produceAroundBig(pipeline);

    const progress = () => ({ deadLetters: pipeline.deadLetters.length, compensations: pipeline.compensations.length, finishedAtB: pipeline.finished('b') });
    const expected = { deadLetters: 2, compensations: 1, finishedAtB: eventIds.length + 1 };
    await eventually(() => JSON.stringify(progress()) === JSON.stringify(expected), 180_000);
    expect(progress()).toEqual(expected);
    await pipeline.drained();
    const letter = pipeline.deadLetters.find((l) => l.headers['fy-destination'] === 'a')!;
    expect(letter.headers).toMatchObject({ 'fy-error-class': 'compensation', 'fy-event-id': big.eventId });
    expect(letter.headers['fy-error']).toContain(`the compensation of destination a is`);
    expect(letter.headers['fy-error']).toContain(`more than topic ${compensationInput} allows (max.message.bytes ${SMALL_LIMIT})`);
    expect(letter.value!.equals(big.value)).toBe(true);
    expect(pipeline.compensations[0]).toMatchObject({ eventId: big.eventId, destination: 'a', status: 'failed' });
    expect(await pipeline.written('a.compensate')).toEqual([]);
    expect(pipeline.outcomes.find((o) => o.eventId === big.eventId)).toMatchObject({ status: 'failed', failed: ['b'] });
    for (const destination of ['a', 'b']) {
      const expectedIds = destination === 'a' ? [...eventIds.slice(0, 5), big.eventId, ...eventIds.slice(5)] : eventIds;
      expect(checkExactlyOnceInOrder(await pipeline.written(destination), expectedIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    }
  } finally {
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);
