/**
 * The redis sink against a real Redis: a stream gets one entry per event id however often
 * (and however concurrently) the event is redelivered; a hash gets the payload's fields once;
 * a failed write leaves no guard behind; refusals and outages map to the right SinkError kind.
 */
import { Redis } from 'ioredis';
import { createRedisSink } from '../../../src/sinks/redis/sink.js';
import { SinkError, type Sink } from '../../../src/sinks/sink.js';
import { PrivateRedis, freePort, testEnv, uniqueName } from '../../helpers/servers.js';
import { noTimeout, rejectionOf, sinkContext, sinkRecord, timeoutAfter } from './sink-context.js';

describe('redis sink', () => {
  let redis: Redis;
  const sinks: Sink[] = [];
  const keys: string[] = [];

  async function startSink(config: Record<string, unknown>): Promise<Sink> {
    const sink = createRedisSink({ type: 'redis', ...config }, sinkContext());
    await sink.start();
    sinks.push(sink);
    return sink;
  }

  /** A key for this test, deleted afterwards with its guard keys. */
  function testKey(prefix: string): string {
    const key = uniqueName(prefix);
    keys.push(key);
    return key;
  }

  beforeAll(() => {
    redis = new Redis(testEnv().redis.url);
  });

  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((sink) => sink.close()));
    for (const key of keys.splice(0)) {
      const guards = await redis.keys(`{${key}*`);
      await redis.del(key, ...guards);
    }
  });

  afterAll(async () => {
    await redis.quit();
  });

  test('stream: one entry per event id under redelivery, with the original bytes and headers', async () => {
    const stream = testKey('fy-stream');
    const sink = await startSink({ mode: 'stream', stream });
    const first = sinkRecord({ orderId: 'o-1', amount: 3 });
    const second = sinkRecord({ orderId: 'o-2', amount: 4 });

    await sink.write(first, noTimeout());
    await sink.write(first, noTimeout());
    await sink.write(second, noTimeout());
    await sink.write(first, noTimeout());

    const entries = await redis.xrangeBuffer(stream, '-', '+');
    expect(entries).toHaveLength(2);
    const fields = entries.map(([, flat]) => {
      const map = new Map<string, Buffer>();
      for (let i = 0; i < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1] as Buffer);
      return map;
    });
    expect(fields.map((map) => String(map.get('eventId')))).toEqual([first.eventId, second.eventId]);
    expect(fields[0]?.get('value')?.equals(first.value)).toBe(true);
    expect(String(fields[0]?.get('key'))).toBe(first.key);
    expect(String(fields[0]?.get('traceparent'))).toBe(first.headers.traceparent);
    expect(String(fields[0]?.get('fy-ingested-at'))).toBe('1714564800000');
  });

  test('stream: concurrent redeliveries of one event still add one entry (check and write are one script)', async () => {
    const stream = testKey('fy-stream');
    const sink = await startSink({ mode: 'stream', stream });
    const record = sinkRecord({ orderId: 'o-1' });
    await Promise.all(Array.from({ length: 20 }, () => sink.write(record, noTimeout())));
    expect(await redis.xlen(stream)).toBe(1);
  });

  test('stream: the guard key holds the entry id and expires after guardTtlSeconds', async () => {
    const stream = testKey('fy-stream');
    const sink = await startSink({ mode: 'stream', stream, guardTtlSeconds: 600 });
    const record = sinkRecord({ orderId: 'o-1' });
    await sink.write(record, noTimeout());
    const guard = `{${stream}}:done:${record.eventId}`;
    const [[entryId]] = (await redis.xrange(stream, '-', '+')) as [[string, string[]]];
    expect(await redis.get(guard)).toBe(entryId);
    const ttl = await redis.ttl(guard);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  test('stream: maxLen trims the stream (approximately)', async () => {
    const stream = testKey('fy-stream');
    const sink = await startSink({ mode: 'stream', stream, maxLen: 10 });
    for (let index = 0; index < 250; index += 1) await sink.write(sinkRecord({ index }), noTimeout());
    // MAXLEN ~ removes whole stream nodes (100 entries by default), never below maxLen.
    const length = await redis.xlen(stream);
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThan(250);
  });

  test('hash: HSET of the payload fields under keyPrefix + template, once per event id', async () => {
    const prefix = `${testKey('fy-hash')}:`;
    const sink = await startSink({ mode: 'hash', keyPrefix: prefix, keyTemplate: '{order.id}' });
    const record = sinkRecord({ order: { id: 'o-7', lines: [1, 2] }, status: 'paid', total: 12.5, gift: false, note: null });
    const hashKey = `${prefix}o-7`;
    keys.push(hashKey);

    await sink.write(record, noTimeout());
    expect(await redis.hgetall(hashKey)).toEqual({
      order: '{"id":"o-7","lines":[1,2]}',
      status: 'paid',
      total: '12.5',
      gift: 'false',
      note: 'null',
    });

    // Someone changed the cache since; a redelivery of the old event must not undo that.
    await redis.hset(hashKey, 'status', 'shipped');
    await sink.write(record, noTimeout());
    expect(await redis.hget(hashKey, 'status')).toBe('shipped');
  });

  test('hash: the default key is the event id', async () => {
    const prefix = `${testKey('fy-hash')}:`;
    const sink = await startSink({ mode: 'hash', keyPrefix: prefix });
    const record = sinkRecord({ a: 'b' });
    keys.push(`${prefix}${record.eventId}`);
    await sink.write(record, noTimeout());
    expect(await redis.hgetall(`${prefix}${record.eventId}`)).toEqual({ a: 'b' });
  });

  test('hash: a payload missing the key field, or not an object, is permanent', async () => {
    const prefix = `${testKey('fy-hash')}:`;
    const sink = await startSink({ mode: 'hash', keyPrefix: prefix, keyTemplate: '{order.id}' });
    const missing = (await rejectionOf(sink.write(sinkRecord({ status: 'x' }), noTimeout()))) as SinkError;
    expect([missing.constructor, missing.kind, missing.message]).toEqual([SinkError, 'permanent', expect.stringContaining('order.id')]);
    const array = { ...sinkRecord({}), payload: [1, 2] };
    const notObject = (await rejectionOf(sink.write(array, noTimeout()))) as SinkError;
    expect(notObject.kind).toBe('permanent');
  });

  test('a WRONGTYPE refusal is permanent and leaves no guard: once the key is fixed, the event is written', async () => {
    const prefix = `${testKey('fy-hash')}:`;
    const sink = await startSink({ mode: 'hash', keyPrefix: prefix });
    const record = sinkRecord({ a: 'b' });
    const hashKey = `${prefix}${record.eventId}`;
    keys.push(hashKey);
    await redis.set(hashKey, 'a plain string');

    const error = (await rejectionOf(sink.write(record, noTimeout()))) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect(error.kind).toBe('permanent');
    expect(error.message).toMatch(/WRONGTYPE/);

    await redis.del(hashKey);
    await sink.write(record, noTimeout());
    expect(await redis.hgetall(hashKey)).toEqual({ a: 'b' });
  });

  test('start() fails, naming the key, when the stream key holds another type', async () => {
    const stream = testKey('fy-stream');
    await redis.set(stream, 'not a stream');
    const sink = createRedisSink({ type: 'redis', mode: 'stream', stream }, sinkContext());
    await expect(sink.start()).rejects.toThrow(`key ${stream} holds a string, not a stream`);
  });

  test('start() fails on fields of the other mode', async () => {
    const sink = createRedisSink({ type: 'redis', mode: 'hash', stream: 'x' }, sinkContext());
    await expect(sink.start()).rejects.toThrow(/stream only apply in stream mode/);
  });

  test('start() fails, naming the server, when Redis cannot be reached', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const sink = createRedisSink({ type: 'redis', mode: 'stream', stream: 'x', url }, sinkContext());
    await expect(sink.start()).rejects.toThrow(`cannot start on redis://127.0.0.1:${url.split(':').pop()}`);
  });

  test('Redis stopped after start: the write is cut off by the signal, and written once Redis is back', async () => {
    const server = new PrivateRedis(await freePort());
    await server.start();
    const stream = uniqueName('fy-stream');
    const sink = createRedisSink({ type: 'redis', mode: 'stream', stream, url: server.url }, sinkContext());
    const direct = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
    try {
      await sink.start();
      await server.stop();
      const record = sinkRecord({ a: 1 });
      const { signal, reason } = timeoutAfter(500);
      expect(await rejectionOf(sink.write(record, signal))).toBe(reason);

      // The private server keeps no data, so the retry writes the entry for the first time.
      await server.start();
      await sink.write(record, noTimeout());
      await sink.write(record, noTimeout());
      await direct.connect();
      expect(await direct.xlen(stream)).toBe(1);
    } finally {
      direct.disconnect();
      await sink.close();
      await server.stop();
    }
  });
});
