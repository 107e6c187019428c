/**
 * The router commits the batches of several source partitions in one Kafka transaction, on the
 * real broker and Redis, and keeps each batch's guarantees:
 * 1. a backlog on 12 partitions is routed in fewer transactions than partition batches
 *    (flowyard_router_transactions_total < flowyard_router_batches_total), every event copied
 *    exactly once to each first topic (read_committed), in order per key, offsets committed;
 * 2. one batch whose copies the broker refuses as too large fails the transaction it shares
 *    with other partitions' batches: those are committed on their own, exactly once (no event
 *    lost, none copied twice), and only the oversized event is dead-lettered. The first topics
 *    allow 100 KiB and the event is 300 KiB, so the refused produce request also carries other
 *    partitions' copies (the broker appends those; the producer's sequence numbers must not
 *    go out of step with it).
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { OutgoingRecord } from '../../../src/kafka/records.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { exactlyOnce, readCommitted } from '../../helpers/read-committed.js';
import { planGroups, untilDrained } from '../../helpers/read-topic.js';
import { outsideKafka } from '../../helpers/outside-kafka.js';

const TOPOLOGY = `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 12
destinations:
  - { name: a, sink: { type: kafka, topic: '{name}.a' } }
  - { name: b, sink: { type: kafka, topic: '{name}.b' } }
`;

const EVENTS = 1_200;
/** Enough keys that every one of the 12 partitions gets a batch. */
const KEYS = 240;

async function counter(pipeline: TestPipeline, name: 'routerTransactions' | 'routerBatches'): Promise<number> {
  const { values } = await pipeline.shared.metrics[name].get();
  return values.filter((v) => v.labels.plan === pipeline.plan.id).reduce((sum, v) => sum + v.value, 0);
}

/** What a read_committed reader of each of the router's first topics finds for `eventIds`. */
async function firstTopics(pipeline: TestPipeline, eventIds: readonly string[]) {
  const result: Record<string, ReturnType<typeof exactlyOnce>> = {};
  for (const { topic } of pipeline.plan.slices.router.first) result[topic] = exactlyOnce(await readCommitted(pipeline.shared.kafka, topic), eventIds);
  return result;
}

const clean = { missing: [], duplicated: [], outOfOrderKeys: [] };

test('a backlog on 12 partitions is routed in fewer transactions than partition batches, every event copied once per first topic, in order per key', async () => {
  const pipeline = await TestPipeline.create(TOPOLOGY);
  try {
    const { records, eventIds } = pipeline.samples(EVENTS, KEYS);
    // Produced before the router starts: its first fetch holds a batch of every partition.
    await pipeline.produce(records);
    await pipeline.start(['router']);
    await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router']));
    await pipeline.stopRoles(); // every transaction is decided: read_committed reads to the high watermark

    const batches = await counter(pipeline, 'routerBatches');
    const transactions = await counter(pipeline, 'routerTransactions');
    expect(batches).toBeGreaterThanOrEqual(12);
    expect(transactions).toBeGreaterThan(0);
    expect(transactions).toBeLessThan(batches);
    const topics = await firstTopics(pipeline, eventIds);
    for (const topic of Object.keys(topics)) expect(topics[topic]).toEqual(clean);
    expect(Object.keys(topics)).toHaveLength(2);
  } finally {
    await pipeline.close();
  }
});

test('a batch refused as too large does not lose or repeat the events of the batches it shared a transaction with', async () => {
  const pipeline = await TestPipeline.create(TOPOLOGY);
  try {
    const source = pipeline.plan.source.topics[0]!;
    for (const { topic } of pipeline.plan.slices.router.first) await limitRecords(topic, 100 * 1024);
    const { records, eventIds } = pipeline.samples(EVENTS, KEYS);
    // A 300 KiB event (random, so it does not compress under the limit) of key customer-7 among the others.
    const bigId = `${pipeline.runId}-big`;
    const big: OutgoingRecord = {
      key: 'customer-7',
      value: JSON.stringify({ eventId: bigId, customerId: 'customer-7', n: -1, blob: randomBytes(230_000).toString('base64') }),
    };
    await pipeline.produce([...records.slice(0, EVENTS / 2), big, ...records.slice(EVENTS / 2)]);
    await pipeline.start(['router']);
    await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router']));
    await pipeline.stopRoles();

    const topics = await firstTopics(pipeline, eventIds);
    for (const topic of Object.keys(topics)) expect(topics[topic]).toEqual(clean);
    for (const { topic } of pipeline.plan.slices.router.first) {
      expect((await readCommitted(pipeline.shared.kafka, topic)).some((r) => r.headers['fy-event-id'] === bigId)).toBe(false);
    }
    const letters = await readCommitted(pipeline.shared.kafka, pipeline.plan.dlqTopic);
    expect(letters.map((l) => [l.headers['fy-error-class'], l.headers['fy-destination']])).toEqual([['oversized', 'router']]);
    expect(letters[0]!.headers['fy-origin']).toMatch(new RegExp(`^${source.replace(/\./g, '\\.')}/\\d+/\\d+$`));
  } finally {
    await pipeline.close();
  }
});

async function limitRecords(topic: string, bytes: number): Promise<void> {
  // An operator's admin tool sets the topic config.
  const admin = outsideKafka('router-transactions-admin').admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }],
    });
  } finally {
    await admin.disconnect();
  }
}
