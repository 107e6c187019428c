/**
 * One event larger than the topics it must pass through does not stall its partition, on the
 * real broker and Redis:
 * 1. a 2 MiB event on a source topic that allows 4 MiB, with derived topics at the broker's
 *    default (1 MiB): the router dead-letters it (class `oversized`, its value cut to fit the
 *    DLQ, `fy-truncated` and `fy-origin` pointing at the full event) and routes every event
 *    after it on the same partition, which the worker writes in order;
 * 2. `flowyard topics create` gives the derived topics it creates the source's
 *    max.message.bytes (plus headroom), and the same
 *    2 MiB event then goes through to the destination whole.
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { maxMessageBytes } from '../../../src/kafka/message-size.js';
import type { OutgoingRecord } from '../../../src/kafka/records.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';
import { eventually, uniqueName } from '../../helpers/servers.js';
import { outsideKafka } from '../../helpers/outside-kafka.js';

const SOURCE_MAX_BYTES = 4 * 1024 * 1024;
const BIG_BYTES = 2 * 1024 * 1024;

const TOPOLOGY = `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 2
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
  - name: archive
    sink: { type: kafka, topic: '{name}.archive' }
`;

/** A JSON event of about `bytes` whose payload is random (base64), so compression cannot shrink it under the limit. */
function bigEvent(runId: string, bytes: number): { record: OutgoingRecord; eventId: string } {
  const eventId = `${runId}-big`;
  const value = JSON.stringify({ eventId, customerId: 'customer-0', n: 5, blob: randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64') });
  return { record: { key: 'customer-0', value }, eventId };
}

async function allowLargeRecords(topic: string): Promise<void> {
  // An operator's admin tool sets the topic configs.
  const admin = outsideKafka('oversized-admin').admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(SOURCE_MAX_BYTES) }] }],
    });
  } finally {
    await admin.disconnect();
  }
}

test('a 2 MiB event the derived topics cannot take is dead-lettered (class oversized, truncated, with its origin); the events after it on its partition are routed and written in order', async () => {
  const pipeline = await TestPipeline.create(TOPOLOGY);
  try {
    const source = pipeline.plan.source.topics[0]!;
    await allowLargeRecords(source); // after topics create: the derived topics keep the broker's default
    await pipeline.start(['router', 'worker']);
    // One key, so all on one partition: 5 events, the big one, 10 more.
    const { records, eventIds } = pipeline.samples(15, 1);
    const big = bigEvent(pipeline.runId, BIG_BYTES);
    await pipeline.produce([...records.slice(0, 5), big.record, ...records.slice(5)]);

    expect(await eventually(() => pipeline.deadLetters.length > 0 && pipeline.finished('archive') === eventIds.length, 120_000)).toBe(true);
    expect(pipeline.deadLetters).toHaveLength(1);
    const letter = pipeline.deadLetters[0]!;
    const original = Buffer.from(big.record.value as string);
    expect(letter.headers).toMatchObject({
      'fy-error-class': 'oversized',
      'fy-destination': 'router',
      'fy-truncated': String(original.length),
      'fy-origin': expect.stringMatching(new RegExp(`^${source.replace(/\./g, '\\.')}/\\d+/5$`)),
      'fy-error': expect.stringContaining(`event of ${original.length} bytes does not fit topic ${pipeline.plan.destinations[0]!.inputTopic} (max.message.bytes 1048588)`),
    });
    // The start of the event, cut to fit the DLQ's default limit.
    expect(letter.value!.length).toBeLessThan(1_048_588);
    expect(letter.value!.length).toBeGreaterThan(900_000);
    expect(original.subarray(0, letter.value!.length).equals(letter.value!)).toBe(true);

    for (const destination of ['ledger', 'archive']) {
      expect(checkExactlyOnceInOrder(await pipeline.written(destination), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
      expect((await pipeline.written(destination)).map((w) => w.eventId)).not.toContain(big.eventId);
    }
  } finally {
    await pipeline.close();
  }
});

test('topics create gives the derived topics it creates the source\'s max.message.bytes, and a 2 MiB event then reaches every destination whole', async () => {
  const source = `${uniqueName('it-src')}.events`;
  // An operator's admin tool sets the topic configs.
  const admin = outsideKafka('oversized-topics').admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: source, numPartitions: 2, configEntries: [{ name: 'max.message.bytes', value: String(SOURCE_MAX_BYTES) }] }],
    });
  } finally {
    await admin.disconnect();
  }
  // TestPipeline.create runs what `flowyard topics create` runs (createPlanTopics).
  const pipeline = await TestPipeline.create(TOPOLOGY.replace("'{name}.events'", `'${source}'`));
  try {
    const { plan } = pipeline;
    const limits = await maxMessageBytes(pipeline.shared.kafka, plan.topics.map((t) => t.name));
    const headroom = 64 * 1024;
    const bytesOf = (topic: string) => limits.get(topic)?.bytes;
    for (const destination of plan.destinations) expect(bytesOf(destination.inputTopic)).toBe(SOURCE_MAX_BYTES + headroom);
    expect(bytesOf(plan.dlqTopic)).toBe(SOURCE_MAX_BYTES + headroom);
    expect(bytesOf(plan.completionsTopic)).toBe(SOURCE_MAX_BYTES + headroom);
    // The sinks' topics belong to the user: created with the broker's default.
    expect(limits.get(`${plan.name}.ledger`)).toEqual({ bytes: 1_048_588, own: false });

    // Recording sinks stand in for the kafka sinks, whose own topics stay at the broker default.
    await pipeline.start(['router', 'worker']);
    const big = bigEvent(pipeline.runId, BIG_BYTES);
    await pipeline.produce([big.record]);
    expect(await eventually(() => pipeline.finished('archive') === 1, 120_000)).toBe(true);
    expect(pipeline.deadLetters).toEqual([]);
    expect((await pipeline.written('archive')).map((w) => w.eventId)).toEqual([big.eventId]);
  } finally {
    await pipeline.close();
  }
});
