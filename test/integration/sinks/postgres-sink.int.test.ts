/**
 * The postgres sink against a real PostgreSQL (PG_URL, default the one infra/postgres.sh
 * starts): rows equal the events with no duplicates under redelivery, also concurrent; a
 * missing table, column or unique index fails start() naming it; constraint and type
 * violations are permanent; a locked table is cut off by the signal and the pool never holds
 * more than `concurrency` connections.
 */
import pg from 'pg';
import { createPostgresSink } from '../../../src/sinks/postgres/sink.js';
import { SinkError, type Sink } from '../../../src/sinks/sink.js';
import { eventually, uniqueName } from '../../helpers/servers.js';
import { noTimeout, rejectionOf, sinkContext, sinkRecord, timeoutAfter } from './sink-context.js';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/flowyard';

const COLUMNS = {
  event_id: '$eventId',
  customer: '$key',
  amount_cents: 'amount.cents',
  sku: 'item.sku',
  body: '$value',
  ingested_at: '$ingestedAt',
  tags: 'tags',
};

describe('postgres sink', () => {
  let admin: pg.Pool;
  const sinks: Sink[] = [];
  const tables: string[] = [];

  /** A fresh ledger table for one test, dropped afterwards. */
  async function ledgerTable(): Promise<string> {
    const table = uniqueName('fy_ledger').replace(/-/g, '_');
    tables.push(table);
    await admin.query(`create table ${table} (
      event_id text primary key,
      customer text not null,
      amount_cents integer,
      sku text unique,
      body jsonb not null,
      ingested_at timestamptz,
      tags jsonb,
      inserted_at timestamptz not null default clock_timestamp()
    )`);
    return table;
  }

  async function startSink(table: string, overrides: { columns?: Record<string, string>; concurrency?: number; timeoutMs?: number; destination?: string } = {}): Promise<Sink> {
    const sink = createPostgresSink(
      { type: 'postgres', url: PG_URL, table, conflictKey: 'event_id', columns: overrides.columns ?? COLUMNS },
      sinkContext({ concurrency: overrides.concurrency ?? 4, timeoutMs: overrides.timeoutMs ?? 5_000, ...(overrides.destination && { destination: overrides.destination }) }),
    );
    await sink.start();
    sinks.push(sink);
    return sink;
  }

  function order(index: number): ReturnType<typeof sinkRecord> {
    return sinkRecord({ amount: { cents: 100 + index }, item: { sku: `sku-${index}` }, tags: ['a', index] }, uniqueName(`evt-${index}`), `customer-${index % 3}`);
  }

  beforeAll(() => {
    admin = new pg.Pool({ connectionString: PG_URL, max: 4 });
  });

  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((sink) => sink.close()));
    for (const table of tables.splice(0)) await admin.query(`drop table if exists ${table}`);
  });

  afterAll(async () => {
    await admin.end();
  });

  test('rows equal the events, one per event id, after every event is delivered twice', async () => {
    const table = await ledgerTable();
    const sink = await startSink(table);
    const events = Array.from({ length: 20 }, (_, index) => order(index));

    for (const event of events) await sink.write(event, noTimeout());
    for (const event of events) await sink.write(event, noTimeout());

    const { rows } = await admin.query(`select event_id, customer, amount_cents, sku, body, ingested_at, tags from ${table} order by amount_cents`);
    expect(rows).toEqual(
      events.map((event, index) => ({
        event_id: event.eventId,
        customer: event.key,
        amount_cents: 100 + index,
        sku: `sku-${index}`,
        body: event.payload,
        ingested_at: new Date(1714564800000),
        tags: ['a', index],
      })),
    );
  });

  test('concurrent redeliveries of one event insert one row', async () => {
    const table = await ledgerTable();
    const sink = await startSink(table);
    const event = order(1);
    await Promise.all(Array.from({ length: 12 }, () => sink.write(event, noTimeout())));
    const { rows } = await admin.query(`select count(*)::int as n from ${table}`);
    expect(rows[0].n).toBe(1);
  });

  test('$value goes to a bytea column as the original bytes, to a text column as text', async () => {
    const table = uniqueName('fy_raw').replace(/-/g, '_');
    tables.push(table);
    await admin.query(`create table ${table} (event_id text primary key, raw bytea, raw_text text)`);
    const sink = await startSink(table, { columns: { event_id: '$eventId', raw: '$value', raw_text: '$value' } });
    const event = order(1);
    await sink.write(event, noTimeout());
    const { rows } = await admin.query<{ raw: Buffer; raw_text: string }>(`select raw, raw_text from ${table}`);
    expect(rows[0]?.raw.equals(event.value)).toBe(true);
    expect(rows[0]?.raw_text).toBe(event.value.toString('utf8'));
  });

  test('start() fails naming a missing table', async () => {
    const table = uniqueName('fy_missing').replace(/-/g, '_');
    const sink = createPostgresSink({ type: 'postgres', url: PG_URL, table, conflictKey: 'event_id', columns: COLUMNS }, sinkContext());
    await expect(sink.start()).rejects.toThrow(`table ${table} does not exist in database flowyard`);
  });

  test('start() fails naming a missing column', async () => {
    const table = await ledgerTable();
    const sink = createPostgresSink(
      { type: 'postgres', url: PG_URL, table, conflictKey: 'event_id', columns: { ...COLUMNS, shipping_zone: 'zone' } },
      sinkContext(),
    );
    await expect(sink.start()).rejects.toThrow(`table ${table} has no column shipping_zone`);
  });

  test('start() fails when conflictKey has no unique index of its own', async () => {
    const table = await ledgerTable();
    const sink = createPostgresSink({ type: 'postgres', url: PG_URL, table, conflictKey: 'customer', columns: COLUMNS }, sinkContext());
    await expect(sink.start()).rejects.toThrow(`table ${table} has no primary key or unique index on (customer) alone`);
  });

  test('start() finds a schema-qualified table', async () => {
    const table = await ledgerTable();
    await expect(startSink(`public.${table}`)).resolves.toBeDefined();
  });

  test('start() rejects with a retriable SinkError, naming the server, when PostgreSQL cannot be reached (an outage the worker waits out)', async () => {
    const sink = createPostgresSink(
      { type: 'postgres', url: 'postgres://postgres:hunter2@127.0.0.1:1/flowyard', table: 't', conflictKey: 'event_id', columns: COLUMNS },
      sinkContext(),
    );
    const error = (await rejectionOf(sink.start())) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect(error.kind).toBe('retriable');
    expect(error.message).toContain('cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:1/flowyard');
    expect(error.message).not.toContain('hunter2');
  });

  test('start() against a database that does not exist is a configuration error, not an outage', async () => {
    const url = new URL(PG_URL);
    url.pathname = `/${uniqueName('no_such_db').replace(/-/g, '_')}`;
    const sink = createPostgresSink({ type: 'postgres', url: url.toString(), table: 't', conflictKey: 'event_id', columns: COLUMNS }, sinkContext());
    const error = (await rejectionOf(sink.start())) as Error;
    expect(error).not.toBeInstanceOf(SinkError);
    expect(error.message).toMatch(/cannot check table t on .*database "no_such_db_[0-9a-f]+" does not exist/);
  });

  test.each([
    ['a NOT NULL violation (a missing field is NULL)', { customer: 'buyer.name' }, {}, '23502'],
    ['a value of the wrong type', { customer: '$key', amount_cents: 'amount.cents' }, { amount: { cents: 'lots' } }, '22P02'],
  ])('%s is permanent, with its SQLSTATE', async (_name, mapped, payload, sqlstate) => {
    const table = await ledgerTable();
    const sink = await startSink(table, { columns: { event_id: '$eventId', body: '$value', ...mapped } });
    const error = (await rejectionOf(sink.write(sinkRecord(payload), noTimeout()))) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect(error.kind).toBe('permanent');
    expect(error.message).toContain(`SQLSTATE ${sqlstate}`);
  });

  test('a unique index other than conflictKey\'s is permanent (23505)', async () => {
    const table = await ledgerTable();
    const sink = await startSink(table);
    await sink.write(order(1), noTimeout());
    const sameSku = { ...order(1), eventId: uniqueName('evt-other') };
    const error = (await rejectionOf(sink.write(sameSku, noTimeout()))) as SinkError;
    expect([error.kind, error.message]).toEqual(['permanent', expect.stringContaining('SQLSTATE 23505')]);
  });

  test('a locked table: the signal cuts the write off; the insert lands later and the retry adds no row', async () => {
    const table = await ledgerTable();
    const sink = await startSink(table, { timeoutMs: 10_000 });
    const locker = await admin.connect();
    const event = order(1);
    try {
      await locker.query('begin');
      await locker.query(`lock table ${table} in access exclusive mode`);
      const { signal, reason } = timeoutAfter(300);
      expect(await rejectionOf(sink.write(event, signal))).toBe(reason);
      await locker.query('commit');
    } finally {
      locker.release();
    }
    // The abandoned INSERT was not cancelled: it commits once the lock is gone.
    expect(await eventually(async () => (await admin.query(`select 1 from ${table}`)).rowCount === 1, 10_000)).toBe(true);
    await sink.write(event, noTimeout());
    const { rows } = await admin.query(`select count(*)::int as n from ${table}`);
    expect(rows[0].n).toBe(1);
  });

  test('a statement longer than timeoutMs is cancelled by the server: retriable (57014)', async () => {
    const table = await ledgerTable();
    const sink = await startSink(table, { timeoutMs: 500 });
    const locker = await admin.connect();
    try {
      await locker.query('begin');
      await locker.query(`lock table ${table} in access exclusive mode`);
      const error = (await rejectionOf(sink.write(order(1), noTimeout()))) as SinkError;
      expect([error.kind, error.message]).toEqual(['retriable', expect.stringContaining('SQLSTATE 57014')]);
    } finally {
      await locker.query('rollback');
      locker.release();
    }
  });

  test('the pool holds at most `concurrency` connections, all used under load', async () => {
    const table = await ledgerTable();
    const destination = uniqueName('pool');
    const sink = await startSink(table, { concurrency: 3, destination });
    const locker = await admin.connect();
    let writes: Promise<void[]> | undefined;
    try {
      await locker.query('begin');
      await locker.query(`lock table ${table} in access exclusive mode`);
      const events = Array.from({ length: 15 }, (_, index) => order(index));
      writes = Promise.all(events.map((event) => sink.write(event, noTimeout())));
      const connections = async () =>
        (await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [`flowyard-${destination}`])).rows[0]?.n;
      expect(await eventually(async () => (await connections()) === 3, 5_000)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await connections()).toBe(3);
    } finally {
      await locker.query('commit');
      locker.release();
    }
    await writes;
    const { rows } = await admin.query(`select count(*)::int as n from ${table}`);
    expect(rows[0].n).toBe(15);
  });

  test('an idle connection killed by the server is replaced; the next write succeeds', async () => {
    const table = await ledgerTable();
    const destination = uniqueName('killed');
    const sink = await startSink(table, { destination });
    await sink.write(order(1), noTimeout());
    const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [`flowyard-${destination}`]);
    expect(killed.rowCount).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sink.write(order(2), noTimeout());
    const { rows } = await admin.query(`select count(*)::int as n from ${table}`);
    expect(rows[0].n).toBe(2);
  });
});
