/**
 * Configuration of the `postgres` sink: one parameterised INSERT per event, mapped columns,
 * `ON CONFLICT (<conflictKey>) DO NOTHING` so a redelivered event adds no second row.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { SinkSpec } from '../define.js';

/** Column sources that are not payload fields. */
export const SPECIAL_SOURCES = ['$eventId', '$key', '$value', '$ingestedAt'] as const;
export type SpecialSource = (typeof SPECIAL_SOURCES)[number];

/** A special source, or a dotted payload field path not starting with `$`. */
const SOURCE_PATTERN = '^(\\$eventId|\\$key|\\$value|\\$ingestedAt|[^.\\s$][^.\\s]*(\\.[^.\\s]+)*)$';
/** `table` or `schema.table`; each part is quoted exactly as written, so it may not contain a dot. */
const TABLE_PATTERN = '^[^.]+(\\.[^.]+)?$';

/** Schema of a `postgres` sink config; its descriptions are the reference docs. */
export const PostgresSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('postgres', { description: 'Insert into a PostgreSQL table.' }),
    url: Type.Optional(
      Type.String({
        pattern: '^postgres(ql)?://',
        description:
          'Connection string, usually "${PG_URL}" (default: the libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, as psql reads them).',
      }),
    ),
    table: Type.String({
      pattern: TABLE_PATTERN,
      description: 'Table to insert into: `name` (found through the search_path) or `schema.name`. Names are exact: quoted, so case matters.',
    }),
    conflictKey: Type.String({
      minLength: 1,
      description:
        'Column with a unique index or primary key of its own, mapped in `columns` (usually to $eventId). ' +
        'Delivery: INSERT ... ON CONFLICT (conflictKey) DO NOTHING, so a redelivered event, or a retry after a lost commit acknowledgement, adds no second row, for as long as the row exists.',
    }),
    columns: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: SOURCE_PATTERN }), {
      minProperties: 1,
      description:
        'Column -> source. A source is a payload field path (customer.id; missing = NULL, objects and arrays as JSON text) or ' +
        '$eventId, $key (the causal key), $value (the original value: text, or the bytes for a bytea column), $ingestedAt (when the router read the event, for a timestamptz column). ' +
        'start() checks that the table and every column exist.',
    }),
  },
  {
    additionalProperties: false,
    title: 'postgres sink',
    description:
      'Insert each event as one row of mapped columns with ON CONFLICT (conflictKey) DO NOTHING, through a pool of at most `concurrency` connections. ' +
      'A missing table, column or unique index on conflictKey stops the worker at start; a NOT NULL, check or type violation sends the event to the dead-letter topic.',
  },
);

/** A validated `postgres` sink config. */
export type PostgresSinkConfig = Static<typeof PostgresSinkConfigSchema>;

/** The `postgres` sink's registry entry. */
export const postgresSinkSpec: SinkSpec<typeof PostgresSinkConfigSchema> = {
  type: 'postgres',
  summary: 'INSERT each event as a row of mapped columns, ON CONFLICT (conflictKey) DO NOTHING; missing table or column fails at start.',
  configSchema: PostgresSinkConfigSchema,
  defaults: { url: 'the libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD' },
  examples: [
    {
      type: 'postgres',
      url: 'postgres://flowyard@db:5432/shop',
      table: 'ledger_entries',
      conflictKey: 'event_id',
      columns: { event_id: '$eventId', customer_id: '$key', amount_cents: 'amount.cents', body: '$value', ingested_at: '$ingestedAt' },
    },
    { type: 'postgres', table: 'inventory.moves', conflictKey: 'event_id', columns: { event_id: '$eventId', sku: 'item.sku', quantity: 'item.quantity' } },
  ],
  idempotent: true,
  delivery:
    'Once per conflict key: INSERT ... ON CONFLICT (conflictKey) DO NOTHING, so a redelivered event, a retry after a lost commit acknowledgement, ' +
    'or a redelivery after a worker crash between the INSERT and its done-key adds no second row, for as long as the row exists. ' +
    'SQLSTATE classes 22 (data exception: bad number, value too long) and 23 (integrity: NOT NULL, check, foreign key, another unique index) ' +
    'and an event that does not map to the columns are permanent; every other error (connection, timeout, deadlock, serialization, shutdown, resources, a table changed under it) is retriable.',
};
