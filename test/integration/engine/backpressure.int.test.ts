/**
 * Proves invariant 4 on the real broker: with a backlog far larger than a worker's buffer
 * and a destination that does not answer, the worker pauses its partitions and holds no
 * more than its bound plus what one fetch returned; once the destination answers, the
 * whole backlog drains, each event written once.
 */
import { randomBytes } from 'node:crypto';
import { DedupStore } from '../../../src/dedup/store.js';
import { produce } from '../../../src/kafka/producer.js';
import { Worker } from '../../../src/runtime/worker.js';
import { toHeaders } from '../../../src/runtime/headers.js';
import { createJsonDecoder } from '../../../src/schema/json.js';
import { eventually } from '../../helpers/servers.js';
import { RecordingSink, TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';

const BACKLOG = 20_000;
const MAX_BUFFERED = 1_000;
const PARTITIONS = 4;
const VALUE_BYTES = 1_024;
/** What one fetch may add on top of the bound: a batch of at most 1 MiB per partition (BatchConsumer's maxBytesPerPartition). */
const ONE_FETCH = PARTITIONS * Math.ceil(1_048_576 / VALUE_BYTES);
/**
 * The event's JSON with a field of random characters up to VALUE_BYTES: random, so that the
 * producer's compression (lz4 by default) cannot shrink a fetch's worth of records far below
 * 1 MiB and let one fetch carry the whole backlog, which ONE_FETCH assumes it does not.
 */
function padded(json: string): string {
  const room = Math.max(0, VALUE_BYTES - json.length - ',"pad":""'.length);
  return json.replace(/}$/, `,"pad":"${randomBytes(room).toString('base64').slice(0, room)}"}`);
}
/** ms: the test's own waits (60 s to pause, 3 s stalled, 180 s to drain) plus set-up; jest's default 180 s was shorter than they add up to. */
const TEST_TIMEOUT_MS = 300_000;

test('a worker with a huge backlog and a stalled destination pauses and stays within its buffer bound, then drains', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: ${PARTITIONS}
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 8
    timeoutMs: 600000
`);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { plan, shared } = pipeline;
  const destination = plan.destinations[0]!;
  const sink = new RecordingSink(shared.redis, pipeline.listKey('ledger'), () => () => gate);
  const context = { plan, env: shared.env, kafka: shared.kafka, redis: shared.redis, metrics: shared.metrics, logger: shared.logger, dedup: new DedupStore(shared.redis, plan.name, 3_600) };
  const worker = new Worker(context, destination, sink, createJsonDecoder(), { maxBuffered: MAX_BUFFERED });

  const { records, eventIds } = pipeline.samples(BACKLOG, 10_000);
  const producer = await shared.kafka.producer();
  const ingestedAt = Date.now();
  const copies = records.map((record, index) => ({
    key: record.key,
    value: padded(String(record.value)),
    headers: toHeaders({ plan: plan.id, eventId: eventIds[index]!, key: String(record.key), seq: 1 + Math.floor(index / 10_000), ingestedAt, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }),
  }));
  for (let i = 0; i < copies.length; i += 2_000) await produce(producer, destination.inputTopic, copies.slice(i, i + 2_000));
  await producer.disconnect();

  const gauge = async (name: string, labels: Record<string, string>) =>
    (await shared.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
  let peak = 0;
  const sampler = setInterval(() => {
    void gauge('flowyard_buffered_records', { destination: 'ledger' }).then((v) => (peak = Math.max(peak, v)));
  }, 20);
  try {
    await worker.start();
    expect(await eventually(async () => (await gauge('flowyard_paused_partitions', { group: destination.group })) > 0, 60_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 3_000)); // keep the destination stalled: nothing more may pile up
    expect(peak).toBeGreaterThanOrEqual(MAX_BUFFERED);
    expect(peak).toBeLessThanOrEqual(MAX_BUFFERED + ONE_FETCH);
    expect(await gauge('flowyard_in_flight', { destination: 'ledger' })).toBe(8);

    release();
    expect(await eventually(async () => (await shared.redis.llen(pipeline.listKey('ledger'))) >= BACKLOG, 180_000, 500)).toBe(true);
    expect(peak).toBeLessThanOrEqual(MAX_BUFFERED + ONE_FETCH);
    const check = checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds);
    expect({ missing: check.missing.length, duplicated: check.duplicated.length, outOfOrderKeys: check.outOfOrderKeys }).toEqual({ missing: 0, duplicated: 0, outOfOrderKeys: [] });
  } finally {
    clearInterval(sampler);
    release();
    await worker.stop();
    await pipeline.close();
  }
}, TEST_TIMEOUT_MS);
