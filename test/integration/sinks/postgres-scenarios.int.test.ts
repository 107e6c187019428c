/**
 * The postgres sink inside a running pipeline, on real Kafka, Redis and PostgreSQL:
 * 1. a worker process killed with kill -9 while its INSERTs are in flight, then restarted,
 *    leaves exactly one row per event in the table (none missing, none doubled);
 * 2. PostgreSQL stopped for 20 s opens the postgres destination's circuit and pauses its
 *    partitions while a second destination (a Redis stream) keeps receiving new events; after
 *    the restart every row arrives once and nothing is dead-lettered.
 * The second test stops a private PostgreSQL of its own, never the shared one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { produce } from '../../../src/kafka/producer.js';
import type { Role } from '../../../src/runtime/role.js';
import { createRoles } from '../../../src/runtime/roles.js';
import type { PostgresSinkConfig } from '../../../src/sinks/postgres/config.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { PrivatePostgres } from '../../helpers/private-postgres.js';
import { eventually, uniqueName } from '../../helpers/servers.js';
import { planGroups, untilDrained } from '../../helpers/read-topic.js';

const bin = fileURLToPath(new URL('../../../bin/flowyard.js', import.meta.url));
const SHARED_PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/flowyard';

/** One row per event; event_id is the primary key the sink's ON CONFLICT names. */
async function createLedger(db: pg.Pool): Promise<string> {
  const table = uniqueName('fy_scenario').replace(/-/g, '_');
  await db.query(`create table ${table} (
    event_id text primary key,
    customer text not null,
    n integer not null,
    body jsonb not null,
    inserted_at timestamptz not null default clock_timestamp()
  )`);
  return table;
}

function ledgerSink(url: string, table: string): string {
  return `{ type: postgres, url: '${url}', table: ${table}, conflictKey: event_id, columns: { event_id: $eventId, customer: $key, n: n, body: $value } }`;
}

/**
 * ON CONFLICT DO NOTHING hides a second write only when the conflict key is the event id:
 * checks that the destination maps its conflictKey to $eventId and that the table's only
 * single-column unique index is on that column.
 */
async function expectConflictKeyIsEventId(db: pg.Pool, table: string, sink: PostgresSinkConfig): Promise<void> {
  expect(sink.conflictKey).toBe('event_id');
  expect(sink.columns[sink.conflictKey]).toBe('$eventId');
  const { rows } = await db.query<{ column: string }>(
    `select a.attname as column from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
     where i.indrelid = $1::regclass and i.indisunique and i.indnkeyatts = 1`,
    [table],
  );
  expect(rows.map((row) => row.column)).toEqual([sink.conflictKey]);
}

/** Event ids missing from the table, and those with more than one row; also the plain row count. */
async function compareRows(db: pg.Pool, table: string, eventIds: readonly string[]): Promise<{ missing: string[]; doubled: string[]; unexpected: string[]; rows: number }> {
  const { rows } = await db.query<{ event_id: string; n: number }>(`select event_id, count(*)::int as n from ${table} group by event_id`);
  const expected = new Set(eventIds);
  const found = new Set(rows.map((row) => row.event_id));
  const total = await db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return {
    missing: eventIds.filter((id) => !found.has(id)),
    doubled: rows.filter((row) => row.n > 1).map((row) => row.event_id),
    unexpected: rows.filter((row) => !expected.has(row.event_id)).map((row) => row.event_id),
    rows: total.rows[0]!.n,
  };
}

async function rowCount(db: pg.Pool, table: string): Promise<number> {
  return (await db.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;
}

/** The worker's connections running an INSERT into `table` right now. */
async function activeInserts(db: pg.Pool, table: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where application_name = 'flowyard-ledger' and state = 'active' and query like $1`,
    [`INSERT INTO "${table}"%`],
  );
  return rows[0]!.n;
}

function startWorkerProcess(file: string): ChildProcess {
  return spawn(process.execPath, [bin, 'run', file, '--roles', 'worker'], {
    env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

test('kill -9 of a worker process with INSERTs in flight, then a restart: the rows equal the events, one each', async () => {
  const db = new pg.Pool({ connectionString: SHARED_PG_URL, max: 2 });
  const table = await createLedger(db);
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-pg-crash-'));
  let pipeline: TestPipeline | undefined;
  let worker: ChildProcess | undefined;
  try {
    pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: ledger
    sink: ${ledgerSink(SHARED_PG_URL, table)}
    concurrency: 16
`);
    const ledger = pipeline.plan.destinations[0]!;
    await expectConflictKeyIsEventId(db, table, ledger.sink as PostgresSinkConfig);
    const file = join(dir, 'topology.yaml');
    writeFileSync(file, pipeline.yaml);

    await pipeline.start(['router']);
    const { records, eventIds } = pipeline.samples(5000, 300);
    worker = startWorkerProcess(file);
    await pipeline.produce(records);
    // Killed mid-stream with INSERTs in flight: a quarter of the rows written and the worker's
    // connections executing an INSERT into this table at the moment of the kill.
    expect(await eventually(async () => (await rowCount(db, table)) >= 1000 && (await activeInserts(db, table)) > 0, 90_000, 10)).toBe(true);
    worker.kill('SIGKILL');
    await exited(worker);
    expect(await rowCount(db, table)).toBeLessThan(eventIds.length); // killed with work left to do

    worker = startWorkerProcess(file);
    expect(await eventually(async () => (await rowCount(db, table)) >= eventIds.length, 180_000, 200)).toBe(true);
    // The worker process committed everything: a redelivered event whose first INSERT committed before the kill is back by now.
    await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router', 'worker']));
    expect(await compareRows(db, table, eventIds)).toEqual({ missing: [], doubled: [], unexpected: [], rows: eventIds.length });
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    await pipeline?.close();
    await db.query(`drop table if exists ${table}`);
    await db.end();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Produces `records` in chunks at a steady pace; remembers when each event was acknowledged by the broker. */
class SteadyProducer {
  /** Event id -> when the broker acknowledged it (ms). */
  readonly producedAt = new Map<string, number>();
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly pipeline: TestPipeline,
    private readonly records: ReturnType<TestPipeline['samples']>,
    private readonly chunk: number,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  /** Stops after the chunk being sent; rejects if producing failed. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Ids acknowledged within [from, to]. */
  between(from: number, to: number): string[] {
    return [...this.producedAt].filter(([, at]) => at >= from && at <= to).map(([id]) => id);
  }

  private async loop(): Promise<void> {
    const producer = await this.pipeline.shared.kafka.producer();
    const topic = this.pipeline.plan.source.topics[0]!;
    try {
      for (let i = 0; i < this.records.records.length && !this.stopped; i += this.chunk) {
        await produce(producer, topic, this.records.records.slice(i, i + this.chunk));
        const at = Date.now();
        for (const id of this.records.eventIds.slice(i, i + this.chunk)) this.producedAt.set(id, at);
        await new Promise((resolve) => setTimeout(resolve, this.everyMs));
      }
    } finally {
      await producer.disconnect();
    }
  }
}

test('PostgreSQL stopped for 20 s: its circuit opens and pauses it, the Redis stream keeps flowing, and after the restart every row arrives once', async () => {
  const server = await PrivatePostgres.create();
  let db: pg.Pool | undefined;
  let pipeline: TestPipeline | undefined;
  let roles: Role[] = [];
  let producer: SteadyProducer | undefined;
  let stream: string | undefined;
  try {
    await server.start();
    db = new pg.Pool({ connectionString: server.url, max: 2 });
    // A restart cuts the admin pool's connections too; drop them instead of crashing the test.
    db.on('error', () => undefined);
    const table = await createLedger(db);
    // Default retries: events whose attempts run out in the outage's first second, before the
    // circuit opens, are held (nothing was written since they started failing), not
    // dead-lettered. The breaker reacts within seconds so the test sees it open and close.
    pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: ledger
    sink: ${ledgerSink(server.url, table)}
    concurrency: 8
    timeoutMs: 2000
    circuitBreaker: { failureRatio: 0.5, minRequests: 5, windowMs: 1000, halfOpenAfterMs: 2000 }
  - name: cache
    sink: { type: redis, mode: stream, stream: 'it:{name}:cache' }
    concurrency: 8
`);
    stream = `it:${pipeline.runId}:cache`;
    const ledger = pipeline.plan.destinations.find((d) => d.name === 'ledger')!;
    await expectConflictKeyIsEventId(db, table, ledger.sink as PostgresSinkConfig);
    const { redis, metrics } = pipeline.shared;
    const streamIds = async (): Promise<string[]> =>
      (await redis.xrange(stream!, '-', '+')).map(([, fields]) => fields[fields.indexOf('eventId') + 1]!);
    const circuit = async (): Promise<number | undefined> =>
      (await metrics.circuitState.get()).values.find((v) => v.labels.destination === 'ledger' && v.labels.plan === pipeline!.plan.id)?.value;
    const paused = async (): Promise<number | undefined> => (await metrics.pausedPartitions.get()).values.find((v) => v.labels.group === ledger.group)?.value;

    roles = await createRoles(pipeline.plan, pipeline.shared, { roles: new Set(['router', 'worker']) });
    for (const role of roles) await role.start();

    // 100 events a second throughout: before, during and after the outage.
    const events = pipeline.samples(6000, 200);
    producer = new SteadyProducer(pipeline, events, 25, 250);
    producer.start();
    expect(await eventually(async () => (await rowCount(db!, table)) >= 200, 60_000)).toBe(true);
    expect(await circuit()).toBe(0);

    await server.stop('immediate');
    const stoppedAt = Date.now();
    // The postgres destination notices: circuit open (2) and its partitions paused.
    expect(await eventually(async () => (await circuit()) === 2 && ((await paused()) ?? 0) > 0, 15_000, 50)).toBe(true);

    // The other destination keeps flowing: events produced during the outage reach the stream
    // while PostgreSQL is still down.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 10_000 - Date.now())));
    const producedDuringOutage = producer.between(stoppedAt, stoppedAt + 10_000);
    expect(producedDuringOutage.length).toBeGreaterThan(500);
    expect(
      await eventually(async () => {
        const seen = new Set(await streamIds());
        return producedDuringOutage.every((id) => seen.has(id));
      }, 60_000, 200),
    ).toBe(true);
    // Checked before the restart, so these really flowed while PostgreSQL was down.
    expect(await circuit()).not.toBe(0);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 20_000 - Date.now())));
    await server.start();
    // Events keep coming for a while after the restart, then the producer stops.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await producer.stop();
    const produced = [...producer.producedAt.keys()];

    await eventually(async () => (await rowCount(db!, table)) >= produced.length && (await streamIds()).length >= produced.length, 120_000, 250);
    await eventually(async () => (await circuit()) === 0 && (await paused()) === 0, 30_000);
    expect({ rows: await rowCount(db, table), cached: (await streamIds()).length, circuit: await circuit(), paused: await paused() }).toEqual({
      rows: produced.length,
      cached: produced.length,
      circuit: 0,
      paused: 0,
    });
    // Everything consumed and committed: a redelivery of an event whose INSERT committed just before the stop is back by now.
    await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router', 'worker']));

    expect(await compareRows(db, table, produced)).toEqual({ missing: [], doubled: [], unexpected: [], rows: produced.length });
    const cached = await streamIds();
    expect(cached.length).toBe(produced.length);
    expect(new Set(cached)).toEqual(new Set(produced));
    expect(pipeline.deadLetters.map((record) => `${record.headers['fy-event-id']}: ${record.headers['fy-error']}`)).toEqual([]);
  } finally {
    // Each step runs even if the one before it failed: the private server must always go.
    try {
      await producer?.stop().catch(() => undefined);
      for (const role of roles.reverse()) await role.stop();
      if (stream !== undefined) await pipeline?.shared.redis.del(stream);
      await pipeline?.close();
      await db?.end();
    } finally {
      await server.destroy();
    }
  }
});
