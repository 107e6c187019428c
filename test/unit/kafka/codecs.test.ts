/**
 * The codecs flowyard registers with kafkajs encode and decode record batches through
 * kafkajs' own record-batch code (what a fetch and a produce use), read both snappy framings
 * Kafka producers write, and a Fetch v11 response holding a batch this process cannot read
 * is reported per partition with its offsets and codec, the readable records of the response
 * still decoded. Pure: batches and responses are built in memory, no broker.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { COMPRESSIONS } from '../../../src/kafka/compression.js';
import { codecName, compressionType, onUnreadableBatches, registerCodecs, type UnreadableBatch } from '../../../src/kafka/kafkajs/codecs.js';

const require = createRequire(import.meta.url);
type Encoder = { buffer: Buffer };
type DecodedBatch = { records: { offset: string; key: Buffer | null; value: Buffer | null }[] };
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (options: object) => Promise<Encoder> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (options: object) => Encoder;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => unknown;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: unknown) => Promise<DecodedBatch>;
const fetchV11 = require('kafkajs/src/protocol/requests/fetch/v11/response.js') as { decode(raw: Buffer): Promise<FetchV11> };
type FetchV11 = { responses: { topicName: string; partitions: { partition: number; messages: { offset: string; value: Buffer }[] }[] }[] };

registerCodecs();

async function batch(compression: number, firstOffset: number, values: readonly string[]): Promise<Buffer> {
  const records = values.map((value, i) => Record({ offsetDelta: i, key: i % 2 === 0 ? null : Buffer.from(`k${i}`), value: Buffer.from(value) }));
  const encoded = await RecordBatch({ compression, lastOffsetDelta: values.length - 1, records });
  const bytes = Buffer.from(encoded.buffer);
  bytes.writeBigInt64BE(BigInt(firstOffset), 0);
  return bytes;
}

const values = Array.from({ length: 40 }, (_, i) => JSON.stringify({ eventId: `e-${i}`, customerId: `c-${i % 3}`, note: 'the same words again and again' }));

describe('codecs through kafkajs record batches', () => {
  test.each(COMPRESSIONS)('%s: a batch kafkajs encodes with it decodes to the same records', async (compression) => {
    const encoded = await batch(compressionType(compression), 7, values);
    const decoded = await decodeRecordBatch(new Decoder(encoded));
    expect(decoded.records.map((r) => r.value?.toString())).toEqual(values);
    expect(decoded.records.map((r) => r.key?.toString() ?? null)).toEqual(values.map((_, i) => (i % 2 === 0 ? null : `k${i}`)));
    expect(decoded.records[0]!.offset).toBe('7');
    expect(encoded.readInt16BE(21) & 0x07).toBe(compressionType(compression));
    if (compression !== 'none') expect(encoded.length).toBeLessThan((await batch(0, 7, values)).length);
  });

  test('snappy: the xerial framing of Kafka Java producers (several blocks) and plain snappy (librdkafka) both read', async () => {
    const snappy = require('snappy') as typeof import('snappy');
    const codec = (kafkajs.CompressionCodecs as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[kafkajs.CompressionTypes.Snappy]!();
    const [a, b] = [Buffer.from('first block '.repeat(50)), Buffer.from('second block '.repeat(50))];
    const block = async (data: Buffer) => {
      const compressed = await snappy.compress(data);
      const length = Buffer.alloc(4);
      length.writeInt32BE(compressed.length);
      return Buffer.concat([length, compressed]);
    };
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
    const xerial = Buffer.concat([header, await block(a), await block(b)]);
    expect(await codec.decompress(xerial)).toEqual(Buffer.concat([a, b]));
    expect(await codec.decompress(await snappy.compress(a))).toEqual(a);
  });

  test('codec names by id, unknown ids named as such', () => {
    expect([0, 1, 2, 3, 4, 5].map(codecName)).toEqual(['none', 'gzip', 'snappy', 'lz4', 'zstd', 'unknown codec id 5']);
  });
});

/** A Fetch v11 response (kafkajs' fetch/v11/response.js layout) for one topic. */
function fetchResponse(topic: string, partitions: readonly { partition: number; recordSet: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const int16 = (v: number) => parts.push(Buffer.from([(v >> 8) & 0xff, v & 0xff]));
  const int32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    parts.push(b);
  };
  const int64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    parts.push(b);
  };
  int32(0); // throttle_time_ms
  int16(0); // error_code
  int32(0); // session_id
  int32(1); // topics
  int16(Buffer.byteLength(topic));
  parts.push(Buffer.from(topic));
  int32(partitions.length);
  for (const { partition, recordSet } of partitions) {
    int32(partition);
    int16(0);
    int64(100n); // high watermark
    int64(100n); // last stable offset
    int64(0n); // log start offset
    int32(1); // one aborted transaction, to walk past
    int64(42n);
    int64(0n);
    int32(-1); // preferred read replica
    int32(recordSet.length);
    parts.push(recordSet);
  }
  return Buffer.concat(parts);
}

/** The batch with its codec bits set to `id`, as a producer of a codec unknown to us would write it. */
function withCodecId(encoded: Buffer, id: number): Buffer {
  const copy = Buffer.from(encoded);
  copy.writeInt16BE((copy.readInt16BE(21) & ~0x07) | id, 21);
  return copy;
}

describe('a fetch response with a batch this process cannot read', () => {
  const topic = 'orders.events';

  async function response(): Promise<Buffer> {
    const readable = await batch(kafkajs.CompressionTypes.LZ4, 10, values.slice(0, 3));
    const unreadable = withCodecId(await batch(kafkajs.CompressionTypes.None, 13, values.slice(0, 5)), 5);
    return fetchResponse(topic, [
      { partition: 0, recordSet: Buffer.concat([readable, unreadable]) },
      { partition: 1, recordSet: withCodecId(await batch(kafkajs.CompressionTypes.None, 20, values.slice(0, 2)), 6) },
      { partition: 2, recordSet: await batch(kafkajs.CompressionTypes.ZSTD, 30, values.slice(0, 4)) },
    ]);
  }

  test('the consumer that fetched it is told where each partition stops; the readable records are decoded', async () => {
    const reported: UnreadableBatch[] = [];
    const decoded = await onUnreadableBatches((b) => reported.push(b), async () => fetchV11.decode(await response()));
    expect(reported).toEqual([
      { topic, partition: 0, codec: 'unknown codec id 5', offset: '13', lastOffset: '17', reason: expect.stringContaining('no codec'), atFetchStart: false },
      { topic, partition: 1, codec: 'unknown codec id 6', offset: '20', lastOffset: '21', reason: expect.stringContaining('no codec'), atFetchStart: true },
    ]);
    const offsets = decoded.responses[0]!.partitions.map((p) => [p.partition, p.messages.map((m) => m.offset)]);
    expect(offsets).toEqual([
      [0, ['10', '11', '12']],
      [1, []],
      [2, ['30', '31', '32', '33']],
    ]);
  });

  test('a consumer without a handler gets one error naming topic, partition, offset and codec', async () => {
    await expect(fetchV11.decode(await response())).rejects.toThrow(
      'topic orders.events partition 0 offset 13: a record batch (offsets 13..17) is compressed with unknown codec id 5, which this process cannot read',
    );
  });
});
