/**
 * The `postgres` sink: one parameterised INSERT ... ON CONFLICT DO NOTHING per event through
 * a pool of at most `concurrency` connections. Idempotent by the conflict key: a redelivered
 * event, or a retry after a commit whose acknowledgement was lost, inserts nothing.
 */
import pg from 'pg';
import { RuntimeFailure } from '../../errors.js';
import type { SinkConfig } from '../../topology/plan.js';
import type { SinkContext } from '../define.js';
import { SinkError, type Sink, type SinkRecord } from '../sink.js';
import type { PostgresSinkConfig } from './config.js';
import { buildInsert, parseTableName, pgErrorKind, quoteTable, rowValues, sqlState, type InsertStatement } from './sql.js';
import { untilAborted } from '../../resilience/abort.js';
import { redactUrl } from '../shared.js';

/** An idle pooled connection is closed after this long (ms), so a quiet destination holds none. */
const IDLE_TIMEOUT_MS = 30_000;

/** Builds the `postgres` sink of a destination; start() checks table, columns and the conflict key's unique index. */
export function createPostgresSink(config: SinkConfig, context: SinkContext): Sink {
  const options = config as PostgresSinkConfig;
  const where = options.url === undefined ? 'the PostgreSQL of PGHOST/PGDATABASE' : redactUrl(options.url);
  let pool: pg.Pool | undefined;
  let statement: InsertStatement | undefined;
  /** Parameter indexes of `$value` columns of type bytea, which take the raw bytes. */
  let byteaColumns: ReadonlySet<number> = new Set();

  return {
    async start() {
      const table = parseTableName(options.table);
      const insert = buildInsert(table, options.conflictKey, options.columns);
      const client = new pg.Pool({
        ...(options.url !== undefined && { connectionString: options.url }),
        max: context.concurrency,
        // Waiting for a free or new connection counts against the write's time; past it the
        // worker has given up anyway, and a down server must fail the write, not queue it.
        connectionTimeoutMillis: context.timeoutMs,
        // The server cancels a statement the worker stopped waiting for, freeing its connection and locks.
        statement_timeout: context.timeoutMs,
        idleTimeoutMillis: IDLE_TIMEOUT_MS,
        application_name: `flowyard-${context.destination}`.slice(0, 63),
      });
      // An idle connection that breaks (server restart) is reported here; without a listener
      // the pool's 'error' event would crash the process. The pool replaces it on demand.
      // Message and SQLSTATE only: the error object references the whole client (and its config).
      client.on('error', (error) =>
        context.logger.warn({ destination: context.destination, error: error.message, sqlState: sqlState(error) }, 'postgres idle connection error; it is replaced on the next write'),
      );
      try {
        byteaColumns = await checkTable(client, options, insert);
      } catch (error) {
        await client.end().catch(() => undefined);
        if (error instanceof StartupError) throw new RuntimeFailure(`postgres sink of destination ${context.destination}: ${error.message}`);
        // Down, starting up or out of connections: an outage the worker waits out (FLOWYARD_START_TIMEOUT_MS).
        if (unreachable(error)) throw new SinkError(`cannot reach PostgreSQL at ${where}: ${(error as Error).message}`, 'retriable', { cause: error });
        throw new RuntimeFailure(`postgres sink of destination ${context.destination} cannot check table ${options.table} on ${where}: ${(error as Error).message}`, { cause: error });
      }
      statement = insert;
      pool = client;
    },

    async write(record: SinkRecord, signal: AbortSignal) {
      if (pool === undefined || statement === undefined) throw new Error('postgres sink written before start()');
      signal.throwIfAborted();
      let values: unknown[];
      try {
        values = rowValues(record, statement.sources, byteaColumns);
      } catch (error) {
        throw new SinkError(`cannot map the event to columns of ${options.table}: ${(error as Error).message}`, 'permanent', { cause: error });
      }
      try {
        const result = await untilAborted(pool.query({ text: statement.text, values }), signal);
        if (result.rowCount === 0) {
          context.logger.debug({ destination: context.destination, eventId: record.eventId }, `postgres: a row with this ${options.conflictKey} exists; nothing inserted`);
        }
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const code = sqlState(error);
        const message = `INSERT into ${options.table} on ${where} failed${code === undefined ? '' : ` (SQLSTATE ${code})`}: ${(error as Error).message}`;
        throw new SinkError(message, pgErrorKind(error), { cause: error });
      }
    },

    async close() {
      const client = pool;
      pool = undefined;
      await client?.end();
    },
  };
}

/**
 * The server is not there (yet): no SQLSTATE (refused, reset, timed out, DNS), or a class that
 * means "not now": 08 connection exception, 53 insufficient resources (too many connections),
 * 57 operator intervention (starting up, shutting down). Wrong credentials (28), a missing
 * database (3D) and the like are configuration mistakes and stay errors.
 */
function unreachable(error: unknown): boolean {
  const code = sqlState(error);
  return code === undefined || /^(08|53|57)/.test(code);
}

/** A problem with the table or mapping: the message says what to fix, without a cause chain. */
class StartupError extends Error {}

/**
 * Checks that the table, every mapped column and a unique index on `conflictKey` exist, so a
 * mistake stops the worker at start instead of dead-lettering every event. Reads pg_catalog
 * rather than information_schema: `to_regclass` resolves an unqualified name through the
 * search_path exactly as the INSERT will, and the catalogs list columns of tables the role
 * may insert into without other privileges. Returns the parameter indexes of bytea `$value` columns.
 */
async function checkTable(pool: pg.Pool, options: PostgresSinkConfig, insert: InsertStatement): Promise<Set<number>> {
  const quoted = quoteTable(parseTableName(options.table));
  const found = await pool.query<{ oid: number | null; db: string }>('select to_regclass($1)::oid as oid, current_database() as db', [quoted]);
  const { oid, db } = found.rows[0] ?? { oid: null, db: '?' };
  if (oid === null) throw new StartupError(`table ${options.table} does not exist in database ${db}; create it or fix \`table\``);

  const attributes = await pool.query<{ name: string; type: string }>(
    'select attname as name, format_type(atttypid, null) as type from pg_attribute where attrelid = $1 and attnum > 0 and not attisdropped order by attnum',
    [oid],
  );
  const types = new Map(attributes.rows.map((row) => [row.name, row.type]));
  const missing = insert.columns.filter((column) => !types.has(column));
  if (missing.length > 0) {
    throw new StartupError(
      `table ${options.table} has no column ${missing.join(', ')} (mapped in \`columns\`); its columns are ${[...types.keys()].join(', ')}`,
    );
  }

  const unique = await pool.query<{ ok: boolean }>(
    `select exists (
       select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
       where i.indrelid = $1 and i.indisunique and i.indnkeyatts = 1 and i.indpred is null and i.indexprs is null and a.attname = $2
     ) as ok`,
    [oid, options.conflictKey],
  );
  if (unique.rows[0]?.ok !== true) {
    throw new StartupError(
      `table ${options.table} has no primary key or unique index on (${options.conflictKey}) alone, which ON CONFLICT (${options.conflictKey}) needs; ` +
        `add one, e.g. CREATE UNIQUE INDEX ON ${quoted} (${JSON.stringify(options.conflictKey)})`,
    );
  }

  const bytea = new Set<number>();
  insert.sources.forEach((source, index) => {
    const column = insert.columns[index];
    if ('special' in source && source.special === '$value' && column !== undefined && types.get(column) === 'bytea') bytea.add(index);
  });
  return bytea;
}
