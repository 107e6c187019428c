/**
 * `flowyard dlq replay` without servers: --since parsing, which dead letters are selected and
 * where they go, the replayed record's headers, the summary line, and every flag a user can
 * get wrong exiting 2 before anything connects.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideReplay, parseSince, replayRecord, summaryLine } from '../../../src/cli/commands/dlq.js';
import { InvalidInputError } from '../../../src/errors.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { parseTopology } from '../../../src/topology/load.js';
import { captureCli } from '../../helpers/cli.js';

const TOPOLOGY = `name: shop
source: { topic: shop.events, key: customerId, id: eventId }
mode: fanout
destinations:
  - name: ledger
    sink: { type: kafka, topic: shop.ledger }
    compensate: { type: kafka, topic: shop.ledger.reversals }
  - name: notify
    sink: { type: kafka, topic: shop.notify }
`;
const plan = parseTopology(TOPOLOGY, 'shop.yaml', {}).plan;

const routed = {
  'fy-plan': plan.id,
  'fy-event-id': 'e-1',
  'fy-key': 'customer-1',
  'fy-seq': '3',
  'fy-ingested-at': '1700000000000',
  'fy-attempt': '4',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
};

function letter(headers: Record<string, string>, offset = '7'): ConsumedRecord {
  return { topic: 'shop.dlq', partition: 1, offset, key: Buffer.from('customer-1'), value: Buffer.from('{"eventId":"e-1"}'), headers, timestamp: 0 };
}

function deadLetter(destination: string, errorClass: string, extra: Record<string, string> = {}): ConsumedRecord {
  return letter({
    ...routed,
    'fy-error': 'gave up after 4 attempts: 503',
    'fy-error-class': errorClass,
    'fy-destination': destination,
    'fy-attempts': '4',
    'fy-origin': `shop.fanout.${destination}/1/42`,
    ...extra,
  });
}

describe('parseSince', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  test.each([
    ['90s', now - 90_000],
    ['15m', now - 900_000],
    ['2h', now - 7_200_000],
    ['7d', now - 7 * 86_400_000],
    ['500ms', now - 500],
    ['2024-04-30T10:00:00Z', Date.parse('2024-04-30T10:00:00Z')],
    ['2024-04-30T10:00:00.250+02:00', Date.parse('2024-04-30T08:00:00.250Z')],
    ['2024-04-30', Date.parse('2024-04-30')],
  ])('%s', (value, expected) => expect(parseSince(value, now)).toBe(expected));

  test.each(['yesterday', '2h30', '-2h', '2 hours', 'March 7', '2024-13-45T99:00:00Z', ''])('%j is refused naming --since', (value) => {
    expect(() => parseSince(value, now)).toThrow(InvalidInputError);
    expect(() => parseSince(value, now)).toThrow(/^--since: /);
  });
});

describe('decideReplay', () => {
  test("a destination's dead letter goes back to its input topic with its done-key name", () => {
    const decision = decideReplay(deadLetter('ledger', 'destination'), plan, { destination: 'ledger' });
    expect(decision).toMatchObject({ kind: 'replay', eventId: 'e-1', topic: plan.destinations[0]!.inputTopic, doneName: 'ledger' });
  });

  test('another destination, or another class than --class, is not selected', () => {
    expect(decideReplay(deadLetter('notify', 'destination'), plan, { destination: 'ledger' })).toEqual({ kind: 'other' });
    expect(decideReplay(deadLetter('ledger', 'timeout'), plan, { destination: 'ledger', errorClass: 'destination' })).toEqual({ kind: 'other' });
    expect(decideReplay(deadLetter('ledger', 'timeout'), plan, { destination: 'ledger', errorClass: 'timeout' }).kind).toBe('replay');
  });

  test("the router's dead letters have no event id and are reported, unless --class excludes them", () => {
    const router = letter({ 'fy-plan': plan.id, 'fy-error': 'no eventId', 'fy-error-class': 'invalid', 'fy-destination': 'router', 'fy-attempts': '0', 'fy-origin': 'shop.events/0/3' });
    expect(decideReplay(router, plan, { destination: 'ledger' })).toMatchObject({ kind: 'not-replayable', reason: expect.stringContaining('router') });
    expect(decideReplay(router, plan, { destination: 'ledger', errorClass: 'invalid' }).kind).toBe('not-replayable');
    expect(decideReplay(router, plan, { destination: 'ledger', errorClass: 'destination' })).toEqual({ kind: 'other' });
  });

  test("a worker's dead letter without flowyard headers is not replayable, with the header named", () => {
    const bare = letter({ 'fy-error': 'missing', 'fy-error-class': 'invalid', 'fy-destination': 'ledger', 'fy-attempts': '0', 'fy-origin': 'x/0/0' });
    expect(decideReplay(bare, plan, { destination: 'ledger' })).toMatchObject({ kind: 'not-replayable', reason: expect.stringContaining('fy-event-id') });
  });

  test('a failed compensation goes back to the compensation input, checked against the compensation done-key', () => {
    expect(decideReplay(deadLetter('ledger', 'compensation'), plan, { destination: 'ledger' })).toMatchObject({
      kind: 'replay',
      topic: plan.destinations[0]!.compensation!.inputTopic,
      doneName: 'ledger.compensate',
    });
    expect(decideReplay(deadLetter('notify', 'compensation'), plan, { destination: 'notify' })).toMatchObject({ kind: 'not-replayable', reason: expect.stringContaining('compensate') });
  });

  test("during a rollout, a letter of the rollout's plan goes back to that plan's input topic; others to the main plan's", () => {
    const rolling = parseTopology(`${TOPOLOGY}rollout: { to: cascade, percent: 10 }\n`, 'shop.yaml', {}).plan;
    const second = rolling.rollout!.plan;
    expect(second.destinations[0]!.inputTopic).not.toBe(rolling.destinations[0]!.inputTopic);
    expect(decideReplay(deadLetter('ledger', 'destination', { 'fy-plan': second.id }), rolling, { destination: 'ledger' })).toMatchObject({
      kind: 'replay',
      topic: second.destinations[0]!.inputTopic,
    });
    for (const letterPlan of [rolling.id, 'shop@0ld0ld00']) {
      expect(decideReplay(deadLetter('ledger', 'destination', { 'fy-plan': letterPlan }), rolling, { destination: 'ledger' })).toMatchObject({
        kind: 'replay',
        topic: rolling.destinations[0]!.inputTopic,
      });
    }
  });

  test('a late arrival is not replayable: the destinations already wrote it', () => {
    expect(decideReplay(deadLetter('ledger', 'late'), plan, { destination: 'ledger' })).toMatchObject({ kind: 'not-replayable', reason: expect.stringContaining('late') });
  });
});

test('the replayed record keeps value, key and flowyard headers, drops the dead-letter headers and starts at attempt 1', () => {
  const source = deadLetter('ledger', 'destination', { 'x-user': 'kept' });
  const record = replayRecord(source);
  expect(record.key).toBe(source.key);
  expect(record.value).toBe(source.value);
  expect(record.headers).toEqual({ ...routed, 'fy-attempt': '1', 'x-user': 'kept' });
});

test('summary line', () => {
  expect(summaryLine({ replayed: 3, alreadyDone: 2, notReplayable: 1, repeated: 0 }, false)).toBe('replayed 3, skipped 2 already done, 1 not replayable');
  expect(summaryLine({ replayed: 3, alreadyDone: 0, notReplayable: 0, repeated: 2 }, true)).toBe('would replay 3, skipped 0 already done, 0 not replayable, 2 repeated in the DLQ');
});

describe('flags a user can get wrong exit 2 naming the flag, before anything connects', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowyard-dlq-'));
    file = join(dir, 'shop.yaml');
    writeFileSync(file, TOPOLOGY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    [['--destination', 'search'], /--destination: search not in topology shop \(it has ledger, notify\)/],
    [['--destination', 'ledger', '--since', 'yesterday'], /--since: "yesterday"/],
    [['--destination', 'ledger', '--class', 'flaky'], /--class <class>.*flaky.*invalid, destination, timeout, circuit-open, late, compensation/s],
    [[], /required option '--destination <name>'/],
  ])('%j', async (flags, message) => {
    const result = await captureCli('dlq', 'replay', file, ...flags);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
  });
});
