/**
 * The pure parts of the `postgres` sink: identifier quoting, the INSERT statement, a row's
 * parameter values and what a PostgreSQL error means for the event.
 */
import type { SinkErrorKind, SinkRecord } from '../sink.js';
import { payloadJson } from '../shared.js';
import { SPECIAL_SOURCES, type SpecialSource } from './config.js';

/** `"name"`, with inner quotes doubled: any name becomes one identifier, never SQL. */
export function quoteIdent(name: string): string {
  if (name === '' || name.includes('\u0000')) throw new Error(`${JSON.stringify(name)} cannot be a PostgreSQL identifier`);
  return `"${name.replace(/"/g, '""')}"`;
}

/** A table as written in the config: `name` or `schema.name`. */
export interface TableName {
  readonly schema?: string;
  readonly name: string;
}

/** Splits `schema.name`; throws for an empty part or more than one dot. */
export function parseTableName(table: string): TableName {
  const parts = table.split('.');
  if (parts.length === 1 && parts[0]) return { name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { schema: parts[0], name: parts[1] };
  throw new Error(`table ${JSON.stringify(table)} must be name or schema.name`);
}

/** `"schema"."name"` or `"name"`: also the text `to_regclass` resolves through the search_path. */
export function quoteTable(table: TableName): string {
  return table.schema === undefined ? quoteIdent(table.name) : `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** Where a column's value comes from. */
export type ColumnSource = { readonly special: SpecialSource } | { readonly path: readonly string[] };

export interface InsertStatement {
  /** `INSERT INTO "t" ("a", "b") VALUES ($1, $2) ON CONFLICT ("a") DO NOTHING` */
  readonly text: string;
  /** The mapped columns, in parameter order. */
  readonly columns: readonly string[];
  readonly sources: readonly ColumnSource[];
}

/** `$eventId` and the other specials, or a field path; throws for anything else. */
export function parseSource(source: string): ColumnSource {
  if (source.startsWith('$')) {
    if (!(SPECIAL_SOURCES as readonly string[]).includes(source)) {
      throw new Error(`unknown column source ${JSON.stringify(source)}; the special sources are ${SPECIAL_SOURCES.join(', ')}`);
    }
    return { special: source as SpecialSource };
  }
  const path = source.split('.');
  if (path.some((segment) => segment === '')) throw new Error(`column source ${JSON.stringify(source)} is not a field path such as customer.id`);
  return { path };
}

/**
 * The statement for a table and mapping. Values travel as parameters, names as quoted
 * identifiers, so neither a payload nor a config can inject SQL. Throws when `conflictKey`
 * is not mapped: its value would come from a column default, which differs per attempt
 * (or is NULL, which never conflicts), so a redelivery would insert a second row.
 */
export function buildInsert(table: TableName, conflictKey: string, columns: Readonly<Record<string, string>>): InsertStatement {
  const entries = Object.entries(columns);
  if (entries.length === 0) throw new Error('columns maps no column');
  if (!Object.hasOwn(columns, conflictKey)) {
    throw new Error(`conflictKey ${conflictKey} is not in columns; map it (usually to $eventId) so a redelivered event conflicts with its first row`);
  }
  const names = entries.map(([name]) => name);
  const placeholders = names.map((_, index) => `$${index + 1}`);
  const text =
    `INSERT INTO ${quoteTable(table)} (${names.map(quoteIdent).join(', ')}) ` +
    `VALUES (${placeholders.join(', ')}) ON CONFLICT (${quoteIdent(conflictKey)}) DO NOTHING`;
  return { text, columns: names, sources: entries.map(([, source]) => parseSource(source)) };
}

/** Parameter values of one row, in the statement's column order. */
export function rowValues(record: SinkRecord, sources: readonly ColumnSource[], byteaColumns: ReadonlySet<number> = new Set()): unknown[] {
  return sources.map((source, index) => {
    if ('path' in source) return parameter(valueAt(record.payload, source.path));
    switch (source.special) {
      case '$eventId':
        return record.eventId;
      case '$key':
        return record.key;
      case '$value':
        // A bytea column takes the bytes as they are; any other column the text (JSON sources).
        return byteaColumns.has(index) ? record.value : record.value.toString('utf8');
      case '$ingestedAt':
        return ingestedAt(record.headers['fy-ingested-at']);
    }
  });
}

/** The value at a field path, or undefined when any segment is missing. */
function valueAt(payload: unknown, path: readonly string[]): unknown {
  let current = payload;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * A payload value as a parameter: missing and null are NULL; strings, numbers and booleans go
 * as they are (PostgreSQL casts their text to the column type, and says 22P02 if it cannot);
 * objects and arrays as JSON text, for json/jsonb columns (pg would send a JS array as a
 * PostgreSQL array literal otherwise).
 */
function parameter(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value; // Avro bytes/fixed: for a bytea column
  if (typeof value === 'bigint') return value.toString(); // Avro long beyond 2^53, exact
  if (typeof value === 'object') return payloadJson(value);
  return value;
}

/** `fy-ingested-at` (ms since the epoch) as a Date; NULL when the header is missing or not a number. */
function ingestedAt(header: string | undefined): Date | null {
  if (header === undefined || !/^\d+$/.test(header)) return null;
  return new Date(Number(header));
}

/**
 * Whether another attempt can help, from the SQLSTATE (`code`) of a PostgreSQL error:
 * - class 22 (data exception: bad number, string too long) and 23 (integrity: NOT NULL,
 *   check, foreign key, a unique index other than conflictKey's): this row is wrong and stays
 *   wrong, so permanent. ON CONFLICT already absorbed the one violation that means "written".
 * - every other class (08 connection, 53 resources, 57 shutdown/cancel, 40 deadlock or
 *   serialization, 42 a table changed under us) is the database's state, not the event's:
 *   retriable, so the breaker pauses the destination instead of dead-lettering good events.
 * Errors without a SQLSTATE (refused, reset, pool timeout) are the connection's: retriable.
 */
export function pgErrorKind(error: unknown): SinkErrorKind {
  const code = sqlState(error);
  if (code === undefined) return 'retriable';
  return code.startsWith('22') || code.startsWith('23') ? 'permanent' : 'retriable';
}

/** The five-character SQLSTATE of a server error, or undefined (node errors use codes such as ECONNREFUSED). */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  // Only server errors carry a severity (ERROR, FATAL, ...); node's EPIPE is also five characters.
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string' ? code : undefined;
}
