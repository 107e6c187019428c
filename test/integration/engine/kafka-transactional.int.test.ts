/**
 * Proves the transactional path of `kafka` sinks (src/runtime/kafka-tx-worker.ts) on the
 * real broker and Redis: a read_committed reader of each sink topic sees every event exactly
 * once and per key in order, through cascade and dag hand-on, with duplicated source events
 * and duplicated input copies, and when a transaction is fenced and aborted mid-stream; a
 * record too large for the sink topic is dead-lettered (truncated, with a reference) while
 * the rest of its partition flows.
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { produce } from '../../../src/kafka/producer.js';
import type { ConsumedRecord, OutgoingRecord } from '../../../src/kafka/records.js';
import { HEADER, toHeaders } from '../../../src/runtime/headers.js';
import { KafkaTransactionalWorker } from '../../../src/runtime/kafka-tx-worker.js';
import { partitionTransactionalId } from '../../../src/runtime/transactional-ids.js';
import { eventually } from '../../helpers/servers.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { outsideKafka } from '../../helpers/outside-kafka.js';
import { HttpReceiver, answer } from '../sinks/http-receiver.js';
import { exactlyOnce, readCommitted } from '../../helpers/read-committed.js';

const ROLES = ['router', 'worker', 'tracker'] as const;

async function expectExactlyOnce(pipeline: TestPipeline, topic: string, eventIds: readonly string[]): Promise<ConsumedRecord[]> {
  const records = await readCommitted(pipeline.shared.kafka, topic);
  expect({ topic, ...exactlyOnce(records, eventIds) }).toEqual({ topic, missing: [], duplicated: [], outOfOrderKeys: [] });
  return records;
}

test('dag: the root hands on to two children inside its transactions; duplicated source events and input copies are written once per sink topic', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: dag
partitions: 4
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
  - name: audit
    after: [ledger]
    sink: { type: kafka, topic: '{name}.audit' }
  - name: notify
    after: [ledger]
    ordering: none
    sink: { type: kafka, topic: '{name}.notify' }
`);
  try {
    await pipeline.startWith([...ROLES]);
    const { records, eventIds } = pipeline.samples(600, 40);
    await pipeline.produce(records);
    await pipeline.produce(records.slice(0, 150)); // the same source events again
    const all = () => pipeline.outcomes.filter((o) => o.status === 'completed').length >= eventIds.length;
    expect(await eventually(all, 120_000, 200)).toBe(true);
    // A copy of an already written event lands on the root's input topic again (a second routing).
    const ledger = await readCommitted(pipeline.shared.kafka, `${pipeline.runId}.ledger`);
    const again: OutgoingRecord[] = ledger.slice(0, 50).map((r) => ({ key: r.key, value: r.value, headers: r.headers }));
    const producer = await pipeline.shared.kafka.producer();
    await produce(producer, pipeline.plan.destinations.find((d) => d.name === 'ledger')!.inputTopic, again);
    await producer.disconnect();
    const answered = () => pipeline.completions.filter((c) => c.destination === 'ledger').length >= eventIds.length + again.length;
    expect(await eventually(answered, 60_000, 100)).toBe(true);
    await pipeline.stopRoles();

    for (const name of ['ledger', 'audit', 'notify']) await expectExactlyOnce(pipeline, `${pipeline.runId}.${name}`, eventIds);
    const audit = await readCommitted(pipeline.shared.kafka, `${pipeline.runId}.audit`);
    // Value bytes unchanged, flowyard's headers on every copy.
    const byId = new Map(records.map((r, i) => [eventIds[i]!, r.value]));
    expect(audit.filter((r) => r.value?.toString('utf8') !== byId.get(r.headers[HEADER.eventId]!))).toEqual([]);
    expect(audit.every((r) => r.headers[HEADER.plan] === pipeline.plan.id && Number(r.headers[HEADER.seq]) >= 1 && r.headers[HEADER.traceparent] !== undefined)).toBe(true);
    expect(pipeline.deadLetters).toEqual([]);
    expect(pipeline.outcomes.filter((o) => o.status !== 'completed')).toEqual([]);
  } finally {
    await pipeline.close();
  }
});

test('cascade: each step hands on in its transaction; every step topic holds each event once, in key order', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 4
destinations:
  - name: first
    sink: { type: kafka, topic: '{name}.first' }
  - name: second
    sink: { type: kafka, topic: '{name}.second' }
`);
  try {
    await pipeline.startWith([...ROLES]);
    const { records, eventIds } = pipeline.samples(800, 50);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.finished('second') >= eventIds.length, 120_000, 200)).toBe(true);
    await pipeline.stopRoles();
    await expectExactlyOnce(pipeline, `${pipeline.runId}.first`, eventIds);
    await expectExactlyOnce(pipeline, `${pipeline.runId}.second`, eventIds);
    // The second step wrote each event only after the first had.
    const at = (d: string) => new Map(pipeline.completions.filter((c) => c.destination === d).map((c) => [c.eventId, c.at]));
    const [first, second] = [at('first'), at('second')];
    expect(eventIds.filter((id) => !(first.get(id)! <= second.get(id)!))).toEqual([]);
  } finally {
    await pipeline.close();
  }
});

test('a transaction fenced mid-stream (another producer takes its transactional id) is aborted and its batch retried: nothing lost, nothing doubled', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
`);
  const ledger = pipeline.plan.destinations[0]!;
  try {
    await pipeline.startWith(['router', 'worker']);
    const { records, eventIds } = pipeline.samples(3000, 100);
    // What a new owner of the partition does (without KIP-447), or a member's producer id taken
    // over (with it, one producer per member): open a producer with that transactional id. The broker
    // bumps the epoch, so the worker's open transaction is aborted and its next request is
    // refused; the worker must notice, start over with a new producer, and retry.
    const worker = pipeline.role('worker:ledger');
    if (!(worker instanceof KafkaTransactionalWorker)) throw new Error('the ledger worker is not the transactional one');
    const transactionalIdOf = (n: number) => (pipeline.shared.kafka.fencesGroupMembers ? worker.transactionalIds()[0]! : partitionTransactionalId(ledger.group, ledger.inputTopic, n % 2));
    // The events come in six parts, a fence between two: each fence has work after it, however
    // fast the worker is (on an idle box it used to finish all 3,000 before the first fence).
    const part = eventIds.length / 6;
    let fenced = 0;
    for (let n = 0; n < 6; n += 1) {
      await pipeline.produce(records.slice(n * part, (n + 1) * part));
      if (n === 5) break;
      await eventually(() => pipeline.finished('ledger') >= n * part + part / 2, 60_000, 10);
      const zombie = outsideKafka('zombie').producer({ transactionalId: transactionalIdOf(fenced), idempotent: true, maxInFlightRequests: 1 });
      await zombie.connect();
      const transaction = await zombie.transaction();
      await transaction.abort();
      await zombie.disconnect();
      fenced += 1;
    }
    expect(fenced).toBeGreaterThan(0);
    // The zombies took the worker's own transactional id: a transaction of it was fenced and its batch retried.
    const retries = (await pipeline.shared.registry.getSingleMetric('flowyard_retries_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
    expect(retries).toBeGreaterThan(0);
    expect(await eventually(() => pipeline.finished('ledger') >= eventIds.length, 120_000, 200)).toBe(true);
    await pipeline.stopRoles();
    await expectExactlyOnce(pipeline, `${pipeline.runId}.ledger`, eventIds);
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    await pipeline.close();
  }
});

test('a record too large for the sink topic is dead-lettered with a truncated value and a reference; the rest of its partition flows in order', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 1
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
`);
  const ledger = pipeline.plan.destinations[0]!;
  const sinkTopic = `${pipeline.runId}.ledger`;
  // An operator's admin tool changes the topic configs.
  const admin = outsideKafka('limits').admin();
  await admin.connect();
  const setLimit = (topic: string, bytes: number) =>
    admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }] });
  const producer = await pipeline.shared.kafka.producer();
  try {
    // The worker's input allows big records (as `topics create` gives it the source's limit); the sink topic keeps 1 MiB.
    await setLimit(ledger.inputTopic, 4 * 1024 * 1024);
    await pipeline.startWith(['worker']);
    // Copies as the router writes them, straight onto the worker's input topic.
    const copy = (n: number, bytes = 0): OutgoingRecord => {
      // Random padding: a codec (KAFKA_COMPRESSION) cannot shrink it under the limit.
      const value = JSON.stringify({ customerId: 'c', eventId: `${pipeline.runId}-${n}`, n, padding: randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64') });
      return { key: 'c', value, headers: toHeaders({ plan: pipeline.plan.id, eventId: `${pipeline.runId}-${n}`, key: 'c', seq: n + 1, ingestedAt: Date.now(), traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` }) };
    };
    // 2 MiB: over the sink topic's 1 MiB (measured by the worker without compression, refused by the broker with it).
    await produce(producer, ledger.inputTopic, [copy(0), copy(1, 2 * 1024 * 1024), copy(2)]);
    expect(await eventually(() => pipeline.finished('ledger') >= 3, 60_000, 50)).toBe(true);
    // The limit shrinks under the running worker: the broker itself refuses the next big record.
    await setLimit(sinkTopic, 200 * 1024);
    await produce(producer, ledger.inputTopic, [copy(3), copy(4, 300 * 1024), copy(5), copy(6)]);
    expect(await eventually(() => pipeline.finished('ledger') >= 7, 60_000, 50)).toBe(true);
    await pipeline.stopRoles();

    const ids = [0, 2, 3, 5, 6].map((n) => `${pipeline.runId}-${n}`);
    const written = await expectExactlyOnce(pipeline, sinkTopic, ids);
    expect(written.map((r) => r.headers[HEADER.eventId])).toEqual(ids); // one partition: in order
    expect(await eventually(() => pipeline.deadLetters.length >= 2, 30_000, 50)).toBe(true);
    const letters = pipeline.deadLetters.map((r) => ({
      eventId: r.headers[HEADER.eventId],
      errorClass: r.headers[HEADER.errorClass],
      originalBytes: Number(r.headers[HEADER.truncated]),
      truncated: (r.value?.length ?? 0) <= 64 * 1024,
      origin: r.headers[HEADER.origin]?.startsWith(`${ledger.inputTopic}/0/`),
    }));
    expect(letters).toEqual([
      { eventId: `${pipeline.runId}-1`, errorClass: 'oversized', originalBytes: expect.any(Number), truncated: true, origin: true },
      { eventId: `${pipeline.runId}-4`, errorClass: 'oversized', originalBytes: expect.any(Number), truncated: true, origin: true },
    ]);
    expect(letters[0]!.originalBytes).toBeGreaterThan(2 * 1024 * 1024);
    // The worker read 1 MiB at start: only the broker's refusal can have stopped this one.
    expect(pipeline.deadLetters[1]!.headers[HEADER.error]).toMatch(/refused it as too large|exceeds its max\.message\.bytes \(204800\)/);
    const failed = pipeline.completions.filter((c) => c.status === 'failed').map((c) => c.eventId);
    expect(failed.sort()).toEqual([`${pipeline.runId}-1`, `${pipeline.runId}-4`]);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
    await pipeline.close();
  }
});

test('a kafka compensation: a branch failing for good (http 422) compensates the kafka branch through its kafka undo topic, once per failed event', async () => {
  const doomed = new Set<string>();
  const receiver = new HttpReceiver((request, response) => answer(response, doomed.has(request.idempotencyKey) ? 422 : 200, ''));
  const origin = await receiver.listen();
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    compensate: { type: kafka, topic: '{name}.reversals' }
  - name: notify
    sink: { type: http, url: '${origin}/notify' }
    retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 50 }
`);
  try {
    const { records, eventIds } = pipeline.samples(200, 20);
    for (const i of [3, 50, 51, 199]) doomed.add(eventIds[i]!);
    await pipeline.startWith([...ROLES]);
    await pipeline.produce(records);
    expect(await eventually(() => pipeline.outcomes.length >= eventIds.length && pipeline.compensations.length >= doomed.size, 120_000, 100)).toBe(true);
    await pipeline.stopRoles();
    await expectExactlyOnce(pipeline, `${pipeline.runId}.ledger`, eventIds);
    const reversals = await expectExactlyOnce(pipeline, `${pipeline.runId}.reversals`, [...doomed]);
    expect(reversals.map((r) => r.headers[HEADER.eventId]).sort()).toEqual([...doomed].sort());
    expect(pipeline.compensations.every((c) => c.status === 'ok' && c.destination === 'ledger')).toBe(true);
  } finally {
    await pipeline.close();
    await receiver.close();
  }
});

test('a kafka sink topic that does not exist ends the worker at start with one line naming destination and topic', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 1
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
`);
  // An operator deletes the sink topic with an admin tool of their own.
  const admin = outsideKafka('delete').admin();
  await admin.connect();
  try {
    const sinkTopic = `${pipeline.runId}.ledger`;
    await admin.deleteTopics({ topics: [sinkTopic] });
    expect(await eventually(async () => !(await admin.listTopics()).includes(sinkTopic), 30_000)).toBe(true);
    await expect(pipeline.startWith(['worker'])).rejects.toThrow(`kafka sink of destination ledger: topic ${sinkTopic} does not exist; create it with \`flowyard topics create <topology file>\``);
  } finally {
    await admin.disconnect();
    await pipeline.close();
  }
});
