/**
 * The postgres sink's SQL, without a database: quoting that no name can escape, the INSERT
 * with ON CONFLICT, a row's parameters, and which SQLSTATEs are the event's fault.
 */
import { buildInsert, parseSource, parseTableName, pgErrorKind, quoteIdent, quoteTable, rowValues, sqlState } from '../../../../src/sinks/postgres/sql.js';
import type { SinkRecord } from '../../../../src/sinks/sink.js';

describe('quoting', () => {
  test('identifiers are double-quoted with inner quotes doubled', () => {
    expect(quoteIdent('event_id')).toBe('"event_id"');
    expect(quoteIdent('Mixed Case')).toBe('"Mixed Case"');
    expect(quoteIdent('a"; drop table x; --')).toBe('"a""; drop table x; --"');
  });

  test('an empty name or a NUL character is refused', () => {
    expect(() => quoteIdent('')).toThrow(/identifier/);
    expect(() => quoteIdent('a\u0000b')).toThrow(/identifier/);
  });

  test('tables are name or schema.name', () => {
    expect(parseTableName('moves')).toEqual({ name: 'moves' });
    expect(parseTableName('inventory.moves')).toEqual({ schema: 'inventory', name: 'moves' });
    expect(quoteTable(parseTableName('inventory.moves'))).toBe('"inventory"."moves"');
    for (const bad of ['', '.moves', 'a.', 'a.b.c']) expect(() => parseTableName(bad)).toThrow(/name or schema\.name/);
  });
});

describe('buildInsert', () => {
  test('one parameter per mapped column, ON CONFLICT on the key', () => {
    const insert = buildInsert({ schema: 'shop', name: 'ledger' }, 'event_id', { event_id: '$eventId', amount: 'amount.cents', customer: '$key' });
    expect(insert.text).toBe(
      'INSERT INTO "shop"."ledger" ("event_id", "amount", "customer") VALUES ($1, $2, $3) ON CONFLICT ("event_id") DO NOTHING',
    );
    expect(insert.columns).toEqual(['event_id', 'amount', 'customer']);
    expect(insert.sources).toEqual([{ special: '$eventId' }, { path: ['amount', 'cents'] }, { special: '$key' }]);
  });

  test('names that look like SQL stay identifiers', () => {
    const insert = buildInsert({ name: 't"x' }, 'id', { id: '$eventId', 'v") values (1); --': 'v' });
    expect(insert.text).toBe('INSERT INTO "t""x" ("id", "v"") values (1); --") VALUES ($1, $2) ON CONFLICT ("id") DO NOTHING');
  });

  test('the conflict key must be mapped, or a redelivery would insert again', () => {
    expect(() => buildInsert({ name: 't' }, 'event_id', { sku: 'sku' })).toThrow(/conflictKey event_id is not in columns/);
  });

  test('unknown special sources and empty path segments are refused', () => {
    expect(() => parseSource('$offset')).toThrow(/\$eventId, \$key, \$value, \$ingestedAt/);
    expect(() => parseSource('a..b')).toThrow(/field path/);
  });
});

describe('rowValues', () => {
  const payload = { amount: { cents: 1250 }, sku: 'A-1', tags: ['x'], meta: { a: 1 }, flag: true, gone: null };
  const record: SinkRecord = {
    eventId: 'e-1',
    key: 'c-9',
    value: Buffer.from(JSON.stringify(payload)),
    headers: { 'fy-ingested-at': '1714564800000' },
    payload,
  };

  test('specials and payload fields in column order', () => {
    const { sources } = buildInsert({ name: 't' }, 'id', {
      id: '$eventId',
      k: '$key',
      body: '$value',
      at: '$ingestedAt',
      cents: 'amount.cents',
      sku: 'sku',
      tags: 'tags',
      meta: 'meta',
      flag: 'flag',
      gone: 'gone',
      missing: 'no.such.field',
    });
    expect(rowValues(record, sources)).toEqual([
      'e-1',
      'c-9',
      JSON.stringify(payload),
      new Date(1714564800000),
      1250,
      'A-1',
      '["x"]',
      '{"a":1}',
      true,
      null,
      null,
    ]);
  });

  test('$value goes as bytes to a bytea column', () => {
    const { sources } = buildInsert({ name: 't' }, 'id', { id: '$eventId', body: '$value' });
    const [, body] = rowValues(record, sources, new Set([1]));
    expect(Buffer.isBuffer(body) && body.equals(record.value)).toBe(true);
  });

  test('$ingestedAt is NULL without a usable header', () => {
    const { sources } = buildInsert({ name: 't' }, 'id', { id: '$eventId', at: '$ingestedAt' });
    expect(rowValues({ ...record, headers: {} }, sources)[1]).toBeNull();
    expect(rowValues({ ...record, headers: { 'fy-ingested-at': 'yesterday' } }, sources)[1]).toBeNull();
  });
});

describe('pgErrorKind', () => {
  const server = (code: string) => Object.assign(new Error(`server says ${code}`), { code, severity: 'ERROR' });

  test.each(['23502', '23503', '23505', '23514', '22P02', '22001', '22003'])('SQLSTATE %s (the row is wrong) is permanent', (code) => {
    expect(pgErrorKind(server(code))).toBe('permanent');
  });

  test.each(['08006', '57P01', '57014', '53300', '40001', '40P01', '42P01', '55P03'])('SQLSTATE %s (the database\'s state) is retriable', (code) => {
    expect(pgErrorKind(server(code))).toBe('retriable');
  });

  test('errors without a SQLSTATE are connection trouble: retriable', () => {
    expect(pgErrorKind(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('retriable');
    expect(pgErrorKind(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe('retriable');
    expect(pgErrorKind(new Error('timeout exceeded when trying to connect'))).toBe('retriable');
    expect(sqlState(Object.assign(new Error('x'), { code: 'EPIPE' }))).toBeUndefined();
  });
});
