/**
 * The sink conformance suite: every registered sink, built through the registry as `run`
 * builds it, against its real server (Kafka, an HTTP receiver, a private redis-server,
 * PostgreSQL), keeps the Sink contract the worker relies on:
 * - redelivery: the same event written twice is one side effect (a sink whose spec says it is
 *   not idempotent, kafka, writes it twice with the same fy-event-id, as documented);
 * - abort: the write's AbortSignal is honoured while the destination holds the write, and an
 *   aborted signal writes nothing; the sink keeps working afterwards;
 * - error classes: a failure the destination will repeat is `permanent`, one that can heal is
 *   `retriable`, as each spec's delivery text says;
 * - start failures: one line naming the destination and what to fix;
 * - pool bound: with `concurrency` 2 and six writes at once, no more than two writes reach the
 *   destination and no more than two connections are open to it.
 * A new sink joins by adding a Harness below; the first test fails while one is missing.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { createSink, sinkSpec, sinkTypes } from '../../../src/sinks/registry.js';
import type { SinkContext } from '../../../src/sinks/define.js';
import { SinkError, type Sink, type SinkRecord } from '../../../src/sinks/sink.js';
import type { SinkConfig } from '../../../src/topology/plan.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { readToHighWatermark } from '../../helpers/read-topic.js';
import { connectionsTo } from '../../helpers/sockets.js';
import { eventually, freePort, PrivateRedis, testEnv, testKafka, uniqueName } from '../../helpers/servers.js';
import { outsideKafka } from '../../helpers/outside-kafka.js';
import { answer, HttpReceiver, type ReceivedRequest } from './http-receiver.js';
import { noTimeout, rejectionOf, sinkContext, sinkRecord, timeoutAfter } from './sink-context.js';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/flowyard';
const CONCURRENCY = 2;
/** max.message.bytes of the kafka harness's topics: every other record of the suite is far smaller. */
const MAX_MESSAGE_BYTES = 65_536;

/** A destination held: writes that reach it wait until release(). */
interface Hold {
  /** Writes the destination holds right now; undefined where the server cannot tell (Kafka, Redis). */
  inFlight(): Promise<number | undefined>;
  release(): Promise<void>;
}

/** What the suite needs to know about one sink type's real destination. */
interface Harness {
  readonly type: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A fresh destination (topic, endpoint, stream, table) and a sink config writing to it. */
  fresh(): Promise<SinkConfig>;
  /** Port of the server the sink connects to, for counting its connections. */
  port(config: SinkConfig): number;
  /** Side effects at the destination for one event, read back from it. */
  effects(config: SinkConfig, eventId: string): Promise<number>;
  /** Makes the destination hold every write until released. */
  hold(config: SinkConfig, context: SinkContext): Promise<Hold>;
  /** A write the destination refuses for good (it may change the destination to get there). */
  permanentFailure(config: SinkConfig): Promise<SinkRecord>;
  /** What the sink of the retriable-failure test starts with (a short timeout, an impatient client). */
  readonly retriableContext?: () => Partial<SinkContext>;
  /** Puts the destination in a state that fails writes for now; returns the record, and how to heal it. */
  retriableFailure(config: SinkConfig): Promise<{ record: SinkRecord; heal(): Promise<void> }>;
  /**
   * A config whose start() fails, and the texts its one-line message must name; or, for a sink
   * whose spec says start does not fail, a config of an unreachable destination that starts.
   */
  startFailure(): Promise<{ config: SinkConfig; names: readonly string[] } | { startsAnyway: SinkConfig }>;
  /** Connections the sink holds to its destination; by default this process's sockets to port(). */
  readonly connections?: (context: SinkContext) => Promise<number>;
}

// ---- kafka -------------------------------------------------------------------------------

const kafka = await testKafka('conformance');

function kafkaHarness(): Harness {
  // The broker as an operator's admin tool changes it (topics deleted and created under the sink), not through flowyard.
  const admin = outsideKafka('conformance').admin();
  const topics: string[] = [];
  const brokerPort = Number(testEnv().kafka.brokers[0]!.split(':').pop());
  async function createTopic(topic: string, configEntries: { name: string; value: string }[] = []): Promise<void> {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries }], waitForLeaders: true });
  }
  async function deleteTopic(topic: string): Promise<void> {
    await admin.deleteTopics({ topics: [topic] });
    await eventually(async () => !(await admin.listTopics()).includes(topic));
  }
  /** Created again once the broker finished deleting it (it refuses while the deletion is under way). */
  async function recreate(topic: string): Promise<void> {
    const created = await eventually(async () => {
      await createTopic(topic);
      return true;
    });
    if (!created) throw new Error(`topic ${topic} could not be created again`);
  }
  return {
    type: 'kafka',
    async setUp() {
      await admin.connect();
      // Opens the admin's connections now, so the pool-bound test counts only the sink's.
      await admin.fetchTopicMetadata({ topics: [] });
    },
    async tearDown() {
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    },
    async fresh() {
      const topic = uniqueName('fy-conformance');
      topics.push(topic);
      // A record limit set at creation (a later alterConfigs reaches the broker's log asynchronously).
      await createTopic(topic, [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }]);
      return { type: 'kafka', topic };
    },
    port: () => brokerPort,
    async effects(config, eventId) {
      const records = await readToHighWatermark(kafka, [config.topic as string]);
      return records.filter((record) => record.headers[HEADER.eventId] === eventId).length;
    },
    async hold(config) {
      // Without its topic, a produce waits in the client's metadata retries until the topic is back.
      await deleteTopic(config.topic as string);
      return { inFlight: async () => undefined, release: () => recreate(config.topic as string) };
    },
    async permanentFailure() {
      // The broker refuses a record larger than the topic's max.message.bytes (MESSAGE_TOO_LARGE);
      // random bytes, so that producer compression cannot shrink it below the limit.
      return sinkRecord({ blob: randomBytes(4 * MAX_MESSAGE_BYTES).toString('base64') });
    },
    async retriableFailure(config) {
      // The topic vanished after start. flowyard's producer retries without end, so the write
      // waits until the worker's timeout cuts it off, and succeeds once the topic is back.
      await deleteTopic(config.topic as string);
      return { record: sinkRecord({ a: 1 }), heal: () => recreate(config.topic as string) };
    },
    async startFailure() {
      const topic = uniqueName('fy-conformance-missing');
      return { config: { type: 'kafka', topic }, names: [topic, 'does not exist', 'flowyard topics create'] };
    },
  };
}

// ---- http --------------------------------------------------------------------------------

type HttpMode = { kind: 'ok' } | { kind: 'hold' } | { kind: 'status'; status: number };

function httpHarness(): Harness {
  let mode: HttpMode = { kind: 'ok' };
  const held: { request: ReceivedRequest; response: ServerResponse }[] = [];
  /**
   * A receiver that honours Idempotency-Key as the http sink's contract asks: the first request
   * of a key it answers 2xx is the side effect; a repeat of that key is answered 2xx and dropped.
   */
  const effectsByKey = new Map<string, number>();
  const accept = (request: ReceivedRequest, response: ServerResponse) => {
    if (response.destroyed || response.writableEnded) return; // the client gave up (aborted): no answer, no effect
    if (!effectsByKey.has(request.idempotencyKey)) effectsByKey.set(request.idempotencyKey, 1);
    answer(response, 200);
  };
  const receiver = new HttpReceiver((request: ReceivedRequest, response) => {
    if (mode.kind === 'hold') held.push({ request, response });
    else if (mode.kind === 'status') answer(response, mode.status, `{"error":"status ${mode.status} on purpose"}`);
    else accept(request, response);
  });
  let origin = '';
  const releaseHeld = () => {
    for (const { request, response } of held.splice(0)) accept(request, response);
  };
  return {
    type: 'http',
    async setUp() {
      origin = await receiver.listen();
    },
    async tearDown() {
      releaseHeld();
      await receiver.close();
    },
    async fresh() {
      mode = { kind: 'ok' };
      return { type: 'http', url: `${origin}/${uniqueName('hook')}` };
    },
    port: () => Number(new URL(origin).port),
    // Every request of an event carries its id as Idempotency-Key, so the receiver drops the repeat.
    effects: async (_config, eventId) => effectsByKey.get(eventId) ?? 0,
    async hold() {
      mode = { kind: 'hold' };
      return {
        inFlight: async () => held.filter(({ response }) => !response.destroyed && !response.writableEnded).length,
        release: async () => {
          mode = { kind: 'ok' };
          releaseHeld();
        },
      };
    },
    async permanentFailure() {
      mode = { kind: 'status', status: 422 };
      return sinkRecord({ a: 1 });
    },
    async retriableFailure() {
      mode = { kind: 'status', status: 503 };
      return {
        record: sinkRecord({ a: 1 }),
        heal: async () => {
          mode = { kind: 'ok' };
        },
      };
    },
    // Documented: connections open lazily, so a receiver that is down at start is a retriable
    // write failure later, not a start failure.
    startFailure: async () => ({ startsAnyway: { type: 'http', url: `http://127.0.0.1:${await freePort()}/down` } }),
  };
}

// ---- redis -------------------------------------------------------------------------------

function redisHarness(): Harness {
  // A private server: the suite pauses it and fills its memory, which the shared one must never see.
  let server: PrivateRedis;
  let direct: Redis;
  return {
    type: 'redis',
    async setUp() {
      server = new PrivateRedis(await freePort());
      await server.start();
      direct = new Redis(server.url, { maxRetriesPerRequest: 1 });
    },
    async tearDown() {
      direct.disconnect();
      await server.stop();
    },
    async fresh() {
      return { type: 'redis', mode: 'stream', stream: uniqueName('fy-conformance'), url: server.url };
    },
    port: () => server.port,
    async effects(config, eventId) {
      const entries = await direct.xrange(config.stream as string, '-', '+');
      return entries.filter(([, fields]) => fields[fields.indexOf('eventId') + 1] === eventId).length;
    },
    async hold() {
      // Write commands (the sink's script may write) wait while clients are paused.
      await direct.call('CLIENT', 'PAUSE', '120000', 'WRITE');
      return {
        inFlight: async () => undefined,
        release: async () => {
          await direct.call('CLIENT', 'UNPAUSE');
        },
      };
    },
    async permanentFailure(config) {
      // The key turned into a string after start: WRONGTYPE, the same answer every time.
      await direct.set(config.stream as string, 'not a stream any more');
      return sinkRecord({ a: 1 });
    },
    async retriableFailure() {
      // Out of memory is transient (keys expire, memory is freed or raised): OOM is retriable.
      const [, before] = (await direct.config('GET', 'maxmemory')) as [string, string];
      await direct.config('SET', 'maxmemory', '1');
      return {
        record: sinkRecord({ a: 1 }),
        heal: async () => {
          await direct.config('SET', 'maxmemory', before);
        },
      };
    },
    // The sink's connection is named flowyard-sink-<destination>; the suite's own is not counted.
    async connections(context) {
      const clients = String(await direct.call('CLIENT', 'LIST'));
      return clients.split('\n').filter((line) => line.includes(` name=flowyard-sink-${context.destination} `)).length;
    },
    async startFailure() {
      const stream = uniqueName('fy-conformance-string');
      await direct.set(stream, 'a string');
      return { config: { type: 'redis', mode: 'stream', stream, url: server.url }, names: [stream, 'holds a string, not a stream'] };
    },
  };
}

// ---- postgres ----------------------------------------------------------------------------

function postgresHarness(): Harness {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const tables: string[] = [];
  const columns = { event_id: '$eventId', customer: '$key', amount: 'amount', body: '$value' };
  return {
    type: 'postgres',
    async setUp() {
      await admin.query('select 1');
    },
    async tearDown() {
      for (const table of tables) await admin.query(`drop table if exists ${table}`);
      await admin.end();
    },
    async fresh() {
      const table = uniqueName('fy_conformance').replace(/-/g, '_');
      tables.push(table);
      await admin.query(`create table ${table} (event_id text primary key, customer text not null, amount integer not null, body jsonb not null)`);
      return { type: 'postgres', url: PG_URL, table, conflictKey: 'event_id', columns };
    },
    port: () => Number(new URL(PG_URL).port || 5432),
    async effects(config, eventId) {
      const result = await admin.query<{ n: string }>(`select count(*) as n from ${config.table as string} where event_id = $1`, [eventId]);
      return Number(result.rows[0]?.n ?? 0);
    },
    async hold(config, context) {
      const locker = await admin.connect();
      await locker.query('begin');
      await locker.query(`lock table ${config.table as string} in access exclusive mode`);
      return {
        inFlight: async () => {
          const result = await admin.query<{ n: string }>(
            "select count(*) as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
            [`flowyard-${context.destination}`],
          );
          return Number(result.rows[0]?.n ?? 0);
        },
        release: async () => {
          await locker.query('rollback');
          locker.release();
        },
      };
    },
    async permanentFailure() {
      // `amount` is NOT NULL and the event has none: 23502, the same answer every time.
      return sinkRecord({ note: 'no amount' });
    },
    // The sink's statement_timeout is the destination's timeoutMs.
    retriableContext: () => ({ timeoutMs: 300 }),
    async retriableFailure(config) {
      // A table locked longer than the statement timeout: the server cancels the INSERT (57014).
      const locker = await admin.connect();
      await locker.query('begin');
      await locker.query(`lock table ${config.table as string} in access exclusive mode`);
      return {
        record: sinkRecord({ amount: 1 }),
        heal: async () => {
          await locker.query('rollback');
          locker.release();
        },
      };
    },
    // pg_stat_activity names the sink's connections by application_name; the suite's own pool is not counted.
    async connections(context) {
      const result = await admin.query<{ n: string }>('select count(*) as n from pg_stat_activity where application_name = $1', [`flowyard-${context.destination}`]);
      return Number(result.rows[0]?.n ?? 0);
    },
    async startFailure() {
      const table = uniqueName('fy_conformance_missing').replace(/-/g, '_');
      return { config: { type: 'postgres', url: PG_URL, table, conflictKey: 'event_id', columns }, names: [`table ${table} does not exist`] };
    },
  };
}

const harnesses: readonly Harness[] = [kafkaHarness(), httpHarness(), redisHarness(), postgresHarness()];

test('every registered sink has a conformance harness', () => {
  expect(harnesses.map((h) => h.type).sort()).toEqual([...sinkTypes()].sort());
});

describe.each(harnesses.map((harness) => [harness.type, harness] as const))('%s sink conformance', (type, harness) => {
  const started: Sink[] = [];
  const idempotent = sinkSpec(type)!.idempotent;

  beforeAll(() => harness.setUp());
  afterAll(async () => {
    for (const sink of started.splice(0)) await sink.close().catch(() => undefined);
    await harness.tearDown();
  });

  async function startSink(config: SinkConfig, overrides: Partial<SinkContext> = {}): Promise<{ sink: Sink; context: SinkContext }> {
    const context = sinkContext({ concurrency: CONCURRENCY, ...overrides });
    const sink = await createSink(config, context);
    started.push(sink);
    await sink.start();
    return { sink, context };
  }

  test('redelivery: the same event written twice is one side effect (or, where documented, two with the same event id)', async () => {
    const config = await harness.fresh();
    const { sink } = await startSink(config);
    const record = sinkRecord({ amount: 7 });
    await sink.write(record, noTimeout());
    await sink.write(record, noTimeout());
    expect(await harness.effects(config, record.eventId)).toBe(idempotent ? 1 : 2);
  });

  test('abort: a held write rejects with the signal reason, an aborted signal writes nothing, and the sink still works', async () => {
    const config = await harness.fresh();
    const { sink, context } = await startSink(config);

    const preAborted = new AbortController();
    preAborted.abort(new Error('aborted before the write'));
    const unwritten = sinkRecord({ amount: 1 });
    expect(await rejectionOf(sink.write(unwritten, preAborted.signal))).toBe(preAborted.signal.reason);

    const hold = await harness.hold(config, context);
    const record = sinkRecord({ amount: 2 });
    const controller = new AbortController();
    const write = rejectionOf(sink.write(record, controller.signal));
    // Where the server shows held writes, abort only once this one is really there.
    if ((await hold.inFlight()) !== undefined) expect(await eventually(async () => (await hold.inFlight()) === 1)).toBe(true);
    const reason = new Error('the worker gave up on this write');
    controller.abort(reason);
    expect(await write).toBe(reason);
    await hold.release();

    const after = sinkRecord({ amount: 3 });
    await sink.write(after, noTimeout());
    expect(await harness.effects(config, after.eventId)).toBe(1);
    expect(await harness.effects(config, unwritten.eventId)).toBe(0);
  });

  test('error classes: a refusal the destination will repeat is permanent', async () => {
    const config = await harness.fresh();
    const { sink } = await startSink(config);
    const record = await harness.permanentFailure(config);
    const error = await rejectionOf(sink.write(record, noTimeout()));
    expect(error).toBeInstanceOf(SinkError);
    expect({ kind: (error as SinkError).kind, message: (error as SinkError).message }).toEqual({ kind: 'permanent', message: expect.any(String) });
  });

  test('error classes: a failure that can heal is retriable, and the write succeeds once it healed', async () => {
    const config = await harness.fresh();
    const { sink } = await startSink(config, harness.retriableContext?.() ?? {});
    const failure = await harness.retriableFailure(config);
    // The worker's timeout, as it would cut off a write: a sink that keeps waiting on a
    // destination that can heal (kafka's producer retries without end) ends here, retriably too.
    const { signal, reason } = timeoutAfter(3_000);
    const error = await rejectionOf(sink.write(failure.record, signal));
    if (error !== reason) {
      expect(error).toBeInstanceOf(SinkError);
      expect((error as SinkError).kind).toBe('retriable');
    }
    await failure.heal();
    await sink.write(failure.record, noTimeout());
    // A non-idempotent sink may also deliver the attempt the timeout cut off (kafka: the producer
    // keeps retrying it), which its delivery text documents; an idempotent one writes once.
    const effects = await harness.effects(config, failure.record.eventId);
    if (idempotent) expect(effects).toBe(1);
    else expect([1, 2]).toContain(effects);
  });

  test('start failures: one line naming the destination and what to fix', async () => {
    const failure = await harness.startFailure();
    const context = sinkContext({ concurrency: CONCURRENCY });
    if ('startsAnyway' in failure) {
      // The spec says start does not fail: an unreachable destination fails the first write, retriably.
      const sink = await createSink(failure.startsAnyway, context);
      started.push(sink);
      await sink.start();
      const error = await rejectionOf(sink.write(sinkRecord({ a: 1 }), noTimeout()));
      expect(error).toBeInstanceOf(SinkError);
      expect((error as SinkError).kind).toBe('retriable');
      return;
    }
    const sink = await createSink(failure.config, context);
    const error = (await rejectionOf(sink.start())) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain(context.destination);
    for (const name of failure.names) expect(error.message).toContain(name);
  });

  test(`pool bound: six writes at once with concurrency ${CONCURRENCY} never hold more than ${CONCURRENCY} writes or connections at the destination`, async () => {
    const config = await harness.fresh();
    const port = harness.port(config);
    const before = connectionsTo(port);
    const { sink, context } = await startSink(config);
    const connections = harness.connections ?? (async () => connectionsTo(port) - before);
    const hold = await harness.hold(config, context);
    const records = Array.from({ length: 6 }, (_, i) => sinkRecord({ amount: i }, uniqueName('evt'), `customer-${i}`));
    const writes = records.map((record) => sink.write(record, noTimeout()));
    let peakInFlight = 0;
    let peakConnections = 0;
    const observe = async (): Promise<void> => {
      peakInFlight = Math.max(peakInFlight, (await hold.inFlight()) ?? 0);
      peakConnections = Math.max(peakConnections, await connections(context));
    };
    const visible = (await hold.inFlight()) !== undefined;
    // Where the server shows held writes, wait until the bound is reached, so the test sees it used.
    if (visible) expect(await eventually(async () => (await observe(), peakInFlight >= CONCURRENCY))).toBe(true);
    await observe();
    await hold.release();
    await Promise.all(writes);
    await observe();
    expect({ peakInFlight, connectionsWithinBound: peakConnections >= 1 && peakConnections <= CONCURRENCY }).toEqual({
      peakInFlight: visible ? CONCURRENCY : 0,
      connectionsWithinBound: true,
    });
    for (const record of records) expect(await harness.effects(config, record.eventId)).toBe(1);
  });
});
