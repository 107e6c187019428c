/**
 * Proves that record batches compressed by producers flowyard did not write reach every
 * destination through router and workers on the real broker: kcat (librdkafka) and Kafka's
 * Java console producer, each with gzip, snappy, lz4 and zstd. The router's hand-on copies
 * are written with flowyard's default codec, so the workers read flowyard-compressed batches
 * too. And flowyard's own producers write every KAFKA_COMPRESSION codec in a form kcat reads.
 */
import { spawn } from 'node:child_process';
import kafkajs from 'kafkajs';
import { createKafka } from '../../../src/kafka/client.js';
import { COMPRESSIONS } from '../../../src/kafka/compression.js';
import { compressionType } from '../../../src/kafka/kafkajs/codecs.js';
import { produce } from '../../../src/kafka/producer.js';
import { ensureTopics } from '../../../src/kafka/topics.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { BROKER, javaProduce, kcatProduce } from '../../helpers/outside-producers.js';
import { eventually, testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const DESTINATIONS = ['ledger', 'notify'] as const;

describe('batches compressed by kcat and the Java producer go through router and workers to every destination', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
    ordering: none
`);
    await pipeline.start();
  });

  afterAll(() => pipeline.close());

  /** `count` JSON events whose ids start with `prefix`, keyed by customer, as `key<TAB>json` lines. */
  function events(prefix: string, count: number): { lines: string[]; ids: string[] } {
    const ids = Array.from({ length: count }, (_, i) => `${pipeline.runId}-${prefix}-${i}`);
    const lines = ids.map((id, i) => `c-${i % 5}\t${JSON.stringify({ eventId: id, customerId: `c-${i % 5}`, n: i, note: 'compressible words, compressible words' })}`);
    return { lines, ids };
  }

  /** Each destination wrote exactly `ids` among the events with that prefix, each once. */
  async function deliveredOnce(prefix: string, ids: readonly string[]): Promise<void> {
    const mine = async (d: string) => (await pipeline.written(d)).map((w) => w.eventId).filter((id) => id.startsWith(`${pipeline.runId}-${prefix}-`));
    expect(await eventually(async () => (await Promise.all(DESTINATIONS.map(mine))).every((w) => w.length >= ids.length), 90_000, 200)).toBe(true);
    for (const destination of DESTINATIONS) expect({ destination, written: (await mine(destination)).sort() }).toEqual({ destination, written: [...ids].sort() });
  }

  test.each(CODECS)('kcat -z %s', async (codec) => {
    const { lines, ids } = events(`kcat-${codec}`, 60);
    await kcatProduce(pipeline.plan.source.topics[0]!, lines, { codec, keyDelimiter: '\t' });
    await deliveredOnce(`kcat-${codec}`, ids);
  });

  test.each(CODECS)('Java console producer --compression-codec %s', async (codec) => {
    const { lines, ids } = events(`java-${codec}`, 30);
    await javaProduce(pipeline.plan.source.topics[0]!, lines, { codec, keyed: true });
    await deliveredOnce(`java-${codec}`, ids);
  });
});

/** kcat's reading of `topic` from the start to its end, one value a line. */
function kcatConsume(topic: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-C', '-b', BROKER, '-t', topic, '-e', '-q', '-f', '%s\n'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString().split('\n').filter(Boolean)) : reject(new Error(`kcat -C exited ${code}: ${Buffer.concat(err)}`))));
  });
}

test.each(COMPRESSIONS)('KAFKA_COMPRESSION=%s: flowyard writes batches with that codec, and kcat reads them', async (compression) => {
  const env = testEnv({ KAFKA_COMPRESSION: compression });
  expect(env.kafka.compression).toBe(compression);
  // The kafkajs backend: the look-ups counted below are kafkajs' codec registry.
  const kafka = await createKafka({ ...env.kafka, client: 'kafkajs' }, testLogger(), 'codec-test');
  const topic = uniqueName('it-codec');
  await ensureTopics(kafka, [{ name: topic, partitions: 1 }]);
  // Count kafkajs' look-ups of the codec while this producer writes: it asks for the codec of every batch it compresses.
  const codecs = kafkajs.CompressionCodecs as Record<number, () => unknown>;
  const id = compressionType(compression);
  const registered = codecs[id];
  let lookups = 0;
  if (registered) codecs[id] = () => ((lookups += 1), registered());
  const values = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, compression, text: 'the same text again '.repeat(5) }));
  const producer = await kafka.producer();
  try {
    await produce(producer, topic, values.map((value) => ({ key: null, value })));
  } finally {
    if (registered) codecs[id] = registered;
    await producer.disconnect();
  }
  expect(lookups > 0).toBe(compression !== 'none');
  expect(await kcatConsume(topic)).toEqual(values);
});
