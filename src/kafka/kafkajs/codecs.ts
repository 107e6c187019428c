/**
 * Kafka record-batch compression: the one module that tells the Kafka client how to read and
 * write gzip, snappy, lz4 and zstd batches, and what happens to a batch this process cannot
 * read. kafkajs ships gzip only and throws `KafkaJSNotImplemented` for the rest, which crashed
 * every consumer of a topic that a kcat or Java producer had compressed. A second Kafka client
 * (one with native codecs, say) registers here too, so every role reads the same codecs.
 *
 * The codec libraries are native Node-API addons whose per-platform binaries come as npm
 * packages (no install script, nothing fetched from elsewhere): `snappy` and `lz4-napi`
 * (napi-rs), `@mongodb-js/zstd` 1.x (napi-rs; its later majors download their binary at install
 * time). A library that does not load on a platform leaves its codec unavailable: producing
 * with it is refused at start (exit 2), and a batch compressed with it is an unreadable batch.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { COMPRESSIONS, type Compression } from '../compression.js';

const { CompressionTypes, CompressionCodecs } = kafkajs;
const require = createRequire(import.meta.url);


/** Kafka's codec ids (the low three bits of a record batch's attributes). */
const CODEC_IDS: Readonly<Record<Compression, number>> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** The kafkajs `compression` value for a `send()`. */
export function compressionType(compression: Compression): number {
  return CODEC_IDS[compression];
}

/** A codec's name from its id; ids 5..7 are not assigned by Kafka (yet). */
export function codecName(id: number): string {
  return COMPRESSIONS.find((name) => CODEC_IDS[name] === id) ?? `unknown codec id ${id}`;
}

interface Codec {
  compress(data: Buffer): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

/**
 * xerial snappy-java's stream header: Kafka's Java producer writes snappy batches in this
 * framing (a header, then length-prefixed snappy blocks); librdkafka writes plain snappy.
 * Both are read; we write the framing, which every Kafka client reads.
 */
const XERIAL_HEADER = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);

function snappyCodec(): Codec {
  const snappy = require('snappy') as typeof import('snappy');
  const uncompress = async (block: Buffer) => (await snappy.uncompress(block)) as Buffer;
  return {
    async compress(data) {
      const block = await snappy.compress(data);
      const length = Buffer.alloc(4);
      length.writeInt32BE(block.length);
      return Buffer.concat([XERIAL_HEADER, length, block]);
    },
    async decompress(data) {
      if (data.length < XERIAL_HEADER.length || !data.subarray(0, 8).equals(XERIAL_HEADER.subarray(0, 8))) return uncompress(data);
      const blocks: Buffer[] = [];
      for (let at = XERIAL_HEADER.length; at < data.length; ) {
        const size = data.readInt32BE(at);
        blocks.push(await uncompress(data.subarray(at + 4, at + 4 + size)));
        at += 4 + size;
      }
      return Buffer.concat(blocks);
    },
  };
}

/** Kafka writes LZ4 batches in the standard LZ4 frame format (KIP-57), independent blocks. */
function lz4Codec(): Codec {
  const lz4 = require('lz4-napi') as typeof import('lz4-napi');
  return { compress: (data) => lz4.compressFrame(data), decompress: (data) => lz4.decompressFrame(data) };
}

/** Level 3: zstd's own default and what Kafka's Java producer uses unless told otherwise. */
const ZSTD_LEVEL = 3;

function zstdCodec(): Codec {
  const zstd = require('@mongodb-js/zstd') as typeof import('@mongodb-js/zstd');
  return { compress: (data) => zstd.compress(data, ZSTD_LEVEL), decompress: (data) => zstd.decompress(data) };
}

const LOADERS: Readonly<Partial<Record<Compression, () => Codec>>> = { snappy: snappyCodec, lz4: lz4Codec, zstd: zstdCodec };

/** Why a codec cannot be used in this process, by codec id; empty once every library loaded. */
const unavailable = new Map<number, string>();
let registered = false;

/**
 * Registers the codecs with kafkajs (idempotent; called by createKafkaClient). A library that
 * fails to load leaves a codec that refuses to compress and decompress, naming the reason.
 */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  for (const [name, load] of Object.entries(LOADERS) as [Compression, () => Codec][]) {
    const id = CODEC_IDS[name];
    let codec: Codec;
    try {
      codec = load();
    } catch (error) {
      const reason = `its library did not load: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      unavailable.set(id, reason);
      codec = {
        compress: () => Promise.reject(new Error(`cannot compress with ${name}: ${reason}`)),
        decompress: () => Promise.reject(new Error(`cannot decompress ${name}: ${reason}`)),
      };
    }
    // kafkajs calls the factory per batch; its codec interface hands compress() an Encoder.
    (CompressionCodecs as Record<number, () => unknown>)[id] = () => ({
      compress: (encoder: { buffer: Buffer }) => codec.compress(encoder.buffer),
      decompress: (buffer: Buffer) => codec.decompress(buffer),
    });
  }
  patchFetchDecoding();
}

/** Undefined when this process can write `compression`, else why not. */
export function compressionUnavailable(compression: Compression): string | undefined {
  registerCodecs();
  return unavailable.get(CODEC_IDS[compression]);
}

/** Why batches with codec `id` cannot be read here, or undefined when they can. */
function unreadableReason(id: number): string | undefined {
  if (id >= 5) return 'Kafka assigns no codec to this id and flowyard knows none';
  return unavailable.get(id);
}

/** A record batch this process cannot decompress, where it is, and why. */
export interface UnreadableBatch {
  readonly topic: string;
  readonly partition: number;
  readonly codec: string;
  /** Base offset of the batch: the first offset the consumer cannot get past. */
  readonly offset: string;
  readonly lastOffset: string;
  readonly reason: string;
  /** True when no readable record precedes the batch in this fetch: the consumer stands at it. */
  readonly atFetchStart: boolean;
}

export class UnreadableBatchError extends Error {
  override readonly name = 'UnreadableBatchError';
  constructor(readonly batch: UnreadableBatch) {
    super(describeUnreadable(batch));
  }
}

export function describeUnreadable(b: UnreadableBatch): string {
  return (
    `topic ${b.topic} partition ${b.partition} offset ${b.offset}: a record batch (offsets ${b.offset}..${b.lastOffset}) ` +
    `is compressed with ${b.codec}, which this process cannot read (${b.reason})`
  );
}

/**
 * The consumer whose fetch is being decoded: a BatchConsumer runs kafkajs inside this context,
 * and fetch responses are decoded in the continuation of the fetch it made.
 */
const unreadableHandlers = new AsyncLocalStorage<(batch: UnreadableBatch) => void>();

/** Runs `fn` (a consumer's connect/run) so unreadable batches its fetches meet go to `handler`. */
export function onUnreadableBatches<T>(handler: (batch: UnreadableBatch) => void, fn: () => T): T {
  return unreadableHandlers.run(handler, fn);
}

type FetchResponse = { decode(raw: Buffer): Promise<unknown> };

/**
 * kafkajs decodes a whole fetch response at once: one batch it cannot decompress fails the
 * response for every partition the broker leads, and the consumer crash-loops on it. Before
 * kafkajs decodes a Fetch v11 response (what it speaks with Kafka 2.3 and later), the record
 * batch headers are read here: the first unreadable batch of a partition is reported to the
 * consumer that fetched it, and cut off like the partial batch a fetch can end with, so
 * kafkajs hands over the records before it and the other partitions as usual. A consumer with
 * no handler (a plain kafkajs consumer: tail, dlq commands) gets one UnreadableBatchError
 * naming the topic, partition, offset and codec.
 *
 * kafkajs 2.2.4 is pinned (package.json) because this reaches into its module layout; the unit
 * test fetch-decoding.test.ts fails if that layout moves.
 */
function patchFetchDecoding(): void {
  const response = require('kafkajs/src/protocol/requests/fetch/v11/response.js') as FetchResponse;
  const decode = response.decode.bind(response);
  response.decode = async (raw: Buffer) => {
    const handler = unreadableHandlers.getStore();
    for (const found of findUnreadableBatches(raw)) {
      if (!handler) throw new UnreadableBatchError(found.batch);
      handler(found.batch);
      raw.writeInt32BE(0x7fffffff, found.lengthAt); // longer than the response: kafkajs stops at it as at a partial batch
    }
    return decode(raw);
  };
}

const RECORD_BATCH_MAGIC = 2;
/** Bytes before a batch's length field ends (base offset int64 + length int32). */
const BATCH_LOG_OVERHEAD = 12;
const CODEC_MASK = 0x07;

/** Walks a Fetch v11 response's layout (see kafkajs' fetch/v11/response.js) without decoding records. */
export function findUnreadableBatches(raw: Buffer): { batch: UnreadableBatch; lengthAt: number }[] {
  const found: { batch: UnreadableBatch; lengthAt: number }[] = [];
  let at = 4 + 2 + 4; // throttle_time_ms, error_code, session_id
  const int16 = () => ((at += 2), raw.readInt16BE(at - 2));
  const int32 = () => ((at += 4), raw.readInt32BE(at - 4));
  const topicCount = int32();
  for (let t = 0; t < topicCount; t++) {
    const nameLength = int16();
    const topic = raw.toString('utf8', at, at + nameLength);
    at += nameLength;
    const partitionCount = int32();
    for (let p = 0; p < partitionCount; p++) {
      const partition = int32();
      at += 2 + 8 + 8 + 8; // error_code, high_watermark, last_stable_offset, log_start_offset
      const aborted = int32();
      if (aborted > 0) at += aborted * 16; // producer_id int64, first_offset int64
      at += 4; // preferred_read_replica
      const size = int32();
      if (size <= 0) continue;
      const end = Math.min(at + size, raw.length);
      for (let batchAt = at; batchAt + BATCH_LOG_OVERHEAD + 15 <= end; ) {
        const length = raw.readInt32BE(batchAt + 8);
        if (raw.readInt8(batchAt + 16) !== RECORD_BATCH_MAGIC) break; // the legacy message-set format: kafkajs reads it itself
        const id = raw.readInt16BE(batchAt + 21) & CODEC_MASK;
        const reason = unreadableReason(id);
        if (reason !== undefined) {
          const offset = raw.readBigInt64BE(batchAt);
          const lastOffset = offset + BigInt(raw.readInt32BE(batchAt + 23));
          const batch = { topic, partition, codec: codecName(id), offset: offset.toString(), lastOffset: lastOffset.toString(), reason, atFetchStart: batchAt === at };
          found.push({ batch, lengthAt: batchAt + 8 });
          break;
        }
        batchAt += BATCH_LOG_OVERHEAD + length;
      }
      at += size;
    }
  }
  return found;
}
