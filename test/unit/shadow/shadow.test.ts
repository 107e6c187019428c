/**
 * `shadow:` as data: the shadow plan's names never meet the live plan's, its sinks and
 * compensations are dry runs, its settings override only what they name; validation names
 * file, line and column of each mistake; the report's comparison counts and orders.
 */
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { completionsRecord, type CompletionsRecord } from '../../../src/runtime/completion.js';
import { compare, renderMarkdown } from '../../../src/shadow/report.js';
import { parseTopology } from '../../../src/topology/load.js';
import { InvalidInputError } from '../../../src/errors.js';

const base = `name: orders
source: { topic: orders.events, key: customerId, id: eventId }
mode: cascade
destinations:
  - { name: ledger, sink: { type: kafka, topic: orders.ledger }, compensate: { type: kafka, topic: orders.reversals } }
  - { name: notify, sink: { type: http, url: "http://notifier:8080/hook" }, concurrency: 8, retry: { maxAttempts: 7 } }
ordering: { sequencer: { output: orders.sequenced } }
`;

function problems(text: string): string[] {
  try {
    parseTopology(text, 'orders.yaml', {});
  } catch (error) {
    if (error instanceof InvalidInputError) return [...error.problems];
    throw error;
  }
  return [];
}

test('the shadow plan has its own name, topics, groups and dry-run sinks, and the live plan is unchanged by it', () => {
  const live = parseTopology(base, 'orders.yaml', {}).plan;
  const { plan } = parseTopology(`${base}shadow:\n  mode: fanout\n  destinations: { notify: { concurrency: 64, ordering: none } }\n`, 'orders.yaml', {});
  const shadow = plan.shadow!;
  expect(shadow.name).toBe('orders-shadow');
  expect(shadow.mode).toBe('fanout');
  expect(plan.destinations).toEqual(live.destinations);
  expect(shadow.groups.router).toBe('orders-shadow.router');
  expect(shadow.destinations.map((d) => [d.name, d.group, d.inputTopic, d.sink])).toEqual([
    ['ledger', 'orders-shadow.ledger', 'orders-shadow.fanout.ledger', { type: 'kafka', topic: 'orders-shadow.dryrun.ledger' }],
    ['notify', 'orders-shadow.notify', 'orders-shadow.fanout.notify', { type: 'kafka', topic: 'orders-shadow.dryrun.notify' }],
  ]);
  // A compensation would be a side effect too.
  expect(shadow.destinations[0]!.compensation?.sink).toEqual({ type: 'kafka', topic: 'orders-shadow.dryrun.ledger.compensate' });
  // Overrides replace what they name; the rest is the live destination's.
  expect(shadow.destinations[1]).toMatchObject({ concurrency: 64, ordering: 'none', retry: { maxAttempts: 7 } });
  expect(shadow.sequencer?.output).toBe('orders-shadow.sequenced');
  expect(shadow.dlqTopic).toBe('orders-shadow.dlq');
  expect(shadow.source).toEqual(plan.source);
  // Nothing the shadow writes is a topic of the live plan, and every one of its topics is created with the plan's.
  const liveNames = new Set(live.topics.map((t) => t.name));
  expect(shadow.topics.filter((t) => t.purpose !== 'source' && liveNames.has(t.name))).toEqual([]);
  for (const topic of shadow.topics) expect(plan.topics.map((t) => t.name)).toContain(topic.name);
  expect(plan.id).not.toBe(live.id);
});

test('a dry run may be any sink: an http recorder', () => {
  const { plan } = parseTopology(`${base}shadow:\n  dryRun: { notify: { type: http, url: "http://recorder:9000/notify" } }\n`, 'orders.yaml', {});
  expect(plan.shadow!.mode).toBe('cascade');
  expect(plan.shadow!.destinations[1]!.sink).toMatchObject({ type: 'http', url: 'http://recorder:9000/notify' });
});

test('mistakes in shadow: are reported with file, line and column', () => {
  expect(
    problems(`${base}shadow:
  mode: fanot
  destinations: { notfy: { concurrency: 64 } }
  dryRun:
    notify: { type: http, url: "http://notifier:8080/hook" }
    ledger: { type: kafka, topic: orders.reversals }
`),
  ).toEqual([
    "orders.yaml:9:9: shadow.mode must be one of cascade, fanout, dag (got 'fanot')",
    "orders.yaml:10:26: shadow.destinations names 'notfy', which is not a destination of this topology (did you mean 'notify'?)",
    "orders.yaml:12:13: shadow.dryRun.notify is the live sink of 'notify': the shadow would write it a second time; point it at a recorder, or leave it out for the Kafka topic orders-shadow.dryrun.notify",
    "orders.yaml:13:35: topic 'orders.reversals' is the live compensation topic of 'ledger': the shadow would write into the live plan; give the dry run a topic of its own",
  ]);
  expect(problems(`${base}rollout: { to: fanout, percent: 10 }\nshadow: { mode: dag }\n`)).toEqual([
    'orders.yaml:9:9: shadow and rollout together: a rollout already splits live traffic between two plans; compare with one of them at a time',
  ]);
});

function record(topic: string, partition: number, offset: number, body: CompletionsRecord): ConsumedRecord {
  const outgoing = completionsRecord(body);
  return { topic, partition, offset: String(offset), key: Buffer.from(body.key), value: outgoing.value === null ? null : Buffer.from(outgoing.value), headers: outgoing.headers as Record<string, string>, timestamp: body.at };
}

function completion(plan: string, destination: string, eventId: string, key: string, seq: number, at: number, status: 'ok' | 'failed' = 'ok'): CompletionsRecord {
  return { kind: 'destination', destination, status, attempts: 1, eventId, key, seq, plan, ingestedAt: 1_000, at, value: null, origin: { topic: 't', partition: 0, offset: '0' } };
}

test('the comparison counts per destination, orders per key, and reads redelivered completions once', () => {
  const live = [
    completion('L', 'a', 'e1', 'k1', 1, 1_010),
    completion('L', 'a', 'e2', 'k1', 2, 1_020),
    completion('L', 'a', 'e2', 'k1', 2, 1_900), // redelivered: not a second write
    completion('L', 'a', 'e3', 'k2', 1, 1_030),
    completion('L', 'a', 'e4', 'k2', 2, 1_040, 'failed'),
  ];
  const shadow = [
    completion('S', 'a', 'e2', 'k1', 2, 1_050), // overtook e1: another order than live, and out of source order
    completion('S', 'a', 'e1', 'k1', 1, 1_060),
    completion('S', 'a', 'e3', 'k2', 1, 1_070),
    completion('S', 'a', 'e4', 'k2', 2, 1_080),
  ];
  const dlq: ConsumedRecord = { topic: 'L.dlq', partition: 0, offset: '0', key: null, value: null, headers: { 'fy-destination': 'a' }, timestamp: 0 };
  const result = compare(
    ['a'],
    { plan: 'L', mode: 'cascade', completions: live.map((c, i) => record('L', 0, i, c)), deadLetters: [dlq] },
    { plan: 'S', mode: 'fanout', completions: shadow.map((c, i) => record('S', 0, i, c)), deadLetters: [] },
  );
  const a = result.destinations[0]!;
  expect(a.live).toMatchObject({ completed: 3, failed: 1, deadLettered: 1, p50: 20, p99: 30, keysOutOfSourceOrder: 0 });
  expect(a.shadow).toMatchObject({ completed: 4, failed: 0, deadLettered: 0, p50: 60, p99: 80, keysOutOfSourceOrder: 1 });
  expect({ onlyLive: a.onlyLive, onlyShadow: a.onlyShadow, keysInAnotherOrder: a.keysInAnotherOrder, keysCompared: a.keysCompared }).toEqual({ onlyLive: 0, onlyShadow: 1, keysInAnotherOrder: 1, keysCompared: 2 });
  expect(renderMarkdown(result, 'T')).toContain('| a | live | 3 | 1 | 1 | 20ms | 30ms | 30ms | 0 | 0 | 1 of 2 |');
});
