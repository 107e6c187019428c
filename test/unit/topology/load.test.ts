/**
 * Loading a valid topology: defaults filled in, ${ENV} placeholders resolved (typed, with
 * defaults and escapes), problems prefixed with the file name, unreadable files reported.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopology, parseTopology } from '../../../src/topology/load.js';
import { InvalidInputError } from '../../../src/errors.js';

const minimal = [
  'name: orders',
  'source: { topic: orders.events, key: customerId, id: eventId }',
  'mode: fanout',
  'destinations:',
  '  - name: ledger',
  '    sink: { type: kafka, topic: orders.ledger }',
].join('\n');

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidInputError) return error.problems;
    throw error;
  }
  throw new Error('expected an InvalidInputError');
}

describe('parseTopology', () => {
  test('fills in every default, so the topology is fully populated', () => {
    const { topology } = parseTopology(minimal, 'orders.yaml', {});
    expect(topology).toEqual({
      name: 'orders',
      source: { topic: 'orders.events', format: 'json', key: 'customerId', id: 'eventId' },
      mode: 'fanout',
      partitions: 12,
      destinations: [
        {
          name: 'ledger',
          sink: { type: 'kafka', topic: 'orders.ledger' },
          timeoutMs: 5000,
          retry: { maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 10000, budgetRatio: 0.2, budgetWindowMs: 10000 },
          concurrency: 16,
          ordering: 'key',
          circuitBreaker: { failureRatio: 0.5, minRequests: 20, windowMs: 10000, halfOpenAfterMs: 30000 },
        },
      ],
      dedup: { ttlSeconds: 90000 },
    });
  });

  test('prefixes every problem with the file name and summarises them in the message', () => {
    const error = (() => {
      try {
        parseTopology('name: Orders\nmode: fanout\n', 'topologies/bad.yaml', {});
      } catch (caught) {
        return caught as InvalidInputError;
      }
      throw new Error('expected an error');
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe('topologies/bad.yaml: invalid topology (3 problems)');
    expect(error.problems).toEqual([
      "topologies/bad.yaml:1:1: missing field 'source' in the topology",
      "topologies/bad.yaml:1:1: missing field 'destinations' in the topology",
      "topologies/bad.yaml:1:7: name 'Orders' must match ^[a-z][a-z0-9-]*$: lowercase letters, digits and '-', starting with a letter",
    ]);
  });
});

describe('${ENV} placeholders', () => {
  const templated = [
    'name: ${NAME:-orders}',
    'source:',
    '  topic: ${ENV}.orders.events',
    '  format: avro',
    '  schema: literal-$${NOT_A_VAR}',
    '  key: customerId',
    '  id: eventId',
    'mode: fanout',
    'partitions: ${PARTITIONS}',
    'destinations:',
    '  - name: ledger',
    '    concurrency: ${CONCURRENCY:-8}',
    '    sink: { type: kafka, topic: "${ENV}.ledger" }',
  ].join('\n');

  test('resolve in values: a plain whole placeholder keeps its YAML type, defaults apply, $${ escapes', () => {
    const { topology } = parseTopology(templated, 't.yaml', { ENV: 'prod', PARTITIONS: '24' });
    expect(topology.name).toBe('orders');
    expect(topology.source.topic).toBe('prod.orders.events');
    expect(topology.source.schema).toBe('literal-${NOT_A_VAR}');
    expect(topology.partitions).toBe(24);
    expect(topology.destinations[0]?.concurrency).toBe(8);
    expect(topology.destinations[0]?.sink).toEqual({ type: 'kafka', topic: 'prod.ledger' });
  });

  test('a set variable wins over the default; an empty one falls back to it', () => {
    expect(parseTopology(templated, 't.yaml', { ENV: 'a', PARTITIONS: '1', NAME: 'shop' }).topology.name).toBe('shop');
    expect(parseTopology(templated, 't.yaml', { ENV: 'a', PARTITIONS: '1', NAME: '' }).topology.name).toBe('orders');
  });

  test('every unset variable is reported at its value, and nothing else about that value', () => {
    expect(problemsOf(() => parseTopology(templated, 't.yaml', {}))).toEqual([
      't.yaml:3:10: environment variable ENV is not set: set it, give a default with ${ENV:-value}, or write $${ENV} for the literal text',
      't.yaml:9:13: environment variable PARTITIONS is not set: set it, give a default with ${PARTITIONS:-value}, or write $${PARTITIONS} for the literal text',
      't.yaml:13:33: environment variable ENV is not set: set it, give a default with ${ENV:-value}, or write $${ENV} for the literal text',
    ]);
  });

  test('a quoted placeholder stays a string', () => {
    const text = templated.replace('partitions: ${PARTITIONS}', 'partitions: "${PARTITIONS}"');
    expect(problemsOf(() => parseTopology(text, 't.yaml', { ENV: 'prod', PARTITIONS: '24' }))).toEqual([
      "t.yaml:9:13: partitions must be a whole number (got '24')",
    ]);
  });

  test('field names are not templated', () => {
    const text = `${minimal}\n\${EXTRA}: 1`;
    expect(problemsOf(() => parseTopology(text, 't.yaml', { EXTRA: 'partitions' }))).toEqual([
      "t.yaml:7:1: unknown field '${EXTRA}' in the topology; allowed fields: name, source, mode, partitions, destinations, dedup, ordering, rollout, shadow, dlq",
    ]);
  });
});

describe('loadTopology', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowyard-load-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('reads a file and compiles its plan', async () => {
    const path = join(dir, 'orders.yaml');
    writeFileSync(path, minimal);
    const { plan } = await loadTopology(path, {});
    expect(plan.id).toMatch(/^orders@[0-9a-f]{8}$/);
    expect(plan.destinations.map((destination) => destination.inputTopic)).toEqual(['orders.fanout.ledger']);
  });

  test('names the file in every problem', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, minimal.replace('mode: fanout', 'mode: star'));
    await expect(loadTopology(path, {})).rejects.toMatchObject({
      problems: [`${path}:3:7: mode must be one of cascade, fanout, dag (got 'star')`],
    });
  });

  test('a missing file is invalid input, not a crash', async () => {
    const path = join(dir, 'missing.yaml');
    await expect(loadTopology(path, {})).rejects.toEqual(new InvalidInputError(`${path}: cannot read the topology file: no such file`));
  });
});
