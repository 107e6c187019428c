/**
 * Proves what a process does with a record batch compressed with a codec it cannot read, on
 * the real broker: here the lz4 library fails to load (as when its platform binary is not
 * installed) and kcat writes an lz4 batch into partition 0 of the source between readable
 * ones. The router reports it with one error naming the codec, topic, partition and offset,
 * pauses that partition at the batch (nothing from it on is routed or committed, so no event
 * is lost), does not crash-loop, and keeps routing the other partition. Producing with the
 * missing codec is refused at start, naming KAFKA_COMPRESSION.
 */
import type { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import { createKafka } from '../../../src/kafka/client.js';
import { InvalidInputError } from '../../../src/errors.js';
import { createLogger } from '../../../src/observability/logger.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { kcatProduce } from '../../helpers/outside-producers.js';
import { eventually, testEnv, testLogger } from '../../helpers/servers.js';

// Before any Kafka client registers the codecs: loading lz4's library fails in this test file.
jest.mock('lz4-napi', () => {
  throw new Error("Cannot find module '@antoniomuso/lz4-napi-linux-x64-gnu'");
});

test('producing with a codec whose library did not load is refused at start, naming KAFKA_COMPRESSION', async () => {
  const create = () => createKafka({ ...testEnv({ KAFKA_COMPRESSION: 'lz4' }).kafka, client: 'kafkajs' }, testLogger(), 'unreadable-test');
  await expect(create()).rejects.toThrow(InvalidInputError);
  await expect(create()).rejects.toThrow(/^environment: KAFKA_COMPRESSION=lz4: this process cannot compress with lz4 \(its library did not load: Cannot find module/);
});

test('an lz4 batch this process cannot read: one error naming it, partition paused at it, other partitions routed, nothing committed past it', async () => {
  const lines: string[] = [];
  const logger = createLogger('warn', { write: (line: string) => lines.push(line) } as unknown as Writable);
  const pipeline = await TestPipeline.create(
    `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
`,
    // The kafkajs backend: it alone decompresses through libraries that can fail to load
    // (confluent's librdkafka and platformatic read every codec in-process, docs/architecture.md).
    { KAFKA_COMPRESSION: 'zstd', KAFKA_CLIENT: 'kafkajs' },
    logger,
  );
  const source = pipeline.plan.source.topics[0]!;
  const event = (tag: string, i: number) => JSON.stringify({ eventId: `${pipeline.runId}-${tag}-${i}`, customerId: `c-${i}`, n: i, note: 'compressible '.repeat(20) });
  const ids = (tag: string, count: number) => Array.from({ length: count }, (_, i) => `${pipeline.runId}-${tag}-${i}`);
  const batch = (tag: string, count: number) => Array.from({ length: count }, (_, i) => event(tag, i));
  try {
    // Partition 0: offsets 0-4 plain, 5-9 one lz4 batch, 10-14 plain. Partition 1: 5 plain.
    await kcatProduce(source, batch('p0-before', 5), { codec: 'none', partition: 0 });
    await kcatProduce(source, batch('p0-lz4', 5), { codec: 'lz4', partition: 0 });
    await kcatProduce(source, batch('p0-after', 5), { codec: 'none', partition: 0 });
    await kcatProduce(source, batch('p1', 5), { codec: 'none', partition: 1 });
    await pipeline.start();

    const written = async () => (await pipeline.written('ledger')).map((w) => w.eventId).sort();
    const paused = () => lines.filter((line) => line.includes('partition paused'));
    const readable = [...ids('p0-before', 5), ...ids('p1', 5)].sort();
    expect(await eventually(async () => (await written()).length >= readable.length && paused().length > 0, 90_000, 200)).toBe(true);
    // Still consuming, not crash-looping: an event produced to partition 1 now is routed too.
    await kcatProduce(source, batch('p1-later', 3), { codec: 'none', partition: 1 });
    const expected = [...readable, ...ids('p1-later', 3)].sort();
    expect(await eventually(async () => (await written()).length >= expected.length, 60_000, 200)).toBe(true);

    expect(await written()).toEqual(expected);
    expect(paused()).toHaveLength(1);
    const report = JSON.parse(paused()[0]!) as Record<string, unknown>;
    expect(report).toMatchObject({ level: 'error', topic: source, partition: 0, offset: '5', codec: 'lz4' });
    expect(report.msg).toContain(`topic ${source} partition 0 offset 5: a record batch (offsets 5..9) is compressed with lz4, which this process cannot read`);
    expect(lines.filter((line) => /consumer crashed|restarting the consumer/.test(line))).toEqual([]);

    // The router group's commit on partition 0 stands at the unread batch: a process that reads lz4 starts there.
    const admin = pipeline.shared.kafka.admin();
    try {
      const offsets = await admin.committedOffsets(pipeline.plan.groups.router, [source]);
      expect(offsets.sort((a, b) => a.partition - b.partition).map((p) => p.offset)).toEqual(['5', '8']);
    } finally {
      await admin.disconnect();
    }
  } finally {
    await pipeline.close();
  }
});
