/**
 * The pure parts of `flowyard demo`'s destination set-up: the ledger table it creates when
 * missing (column types from a sample event, the conflict key as primary key, names quoted)
 * and which http sinks get a local webhook receiver.
 */
import { columnType, createTableSql, localPort, type DemoEvent } from '../../../src/cli/demo-destinations.js';

const sample: DemoEvent = {
  eventId: 'e-1',
  key: 'customer-1',
  payload: { amount: 12.5, paid: true, currency: 'EUR', customer: { id: 'c-1', tags: ['a'] } },
};

test.each([
  ['$eventId', 'text'],
  ['$key', 'text'],
  ['$value', 'text'],
  ['$ingestedAt', 'timestamptz'],
  ['amount', 'numeric'],
  ['paid', 'boolean'],
  ['currency', 'text'],
  ['customer.id', 'text'],
  ['customer.tags', 'jsonb'],
  ['customer', 'jsonb'],
  ['missing.field', 'text'],
])('column for %s is %s', (source, type) => expect(columnType(source, sample)).toBe(type));

test('the table: mapped columns, the conflict key as primary key, identifiers quoted', () => {
  expect(createTableSql({ table: 'shop.Ledger', conflictKey: 'event_id', columns: { event_id: '$eventId', amount: 'amount', 'at "x"': '$ingestedAt' } }, sample)).toBe(
    'CREATE TABLE IF NOT EXISTS "shop"."Ledger" ("event_id" text PRIMARY KEY, "amount" numeric, "at ""x""" timestamptz)',
  );
});

test.each([
  ['http://127.0.0.1:8787/orders', 8787],
  ['http://localhost/hook', 80],
  ['http://[::1]:9000/', 9000],
  ['https://127.0.0.1:8443/hook', undefined],
  ['http://notifier:8080/hook', undefined],
])('%s: local receiver port %s', (url, port) => expect(localPort(url)).toBe(port));
