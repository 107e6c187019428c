/**
 * `flowyard schemas push` and `flowyard schemas check` against the real schema registry
 * (infra/registry.sh), run in-process through the CLI's entry point: what they print, the exit codes
 * (0 ok, 2 incompatible or invalid input, 1 registry unreachable), and that the registry's
 * own reasons reach the user. Each test writes a topology on a topic of its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '../../../src/schema/registry.js';
import { freePort, uniqueName } from '../../helpers/servers.js';
import { FIXTURES_DIR, registryUrl } from './helpers.js';
import { captureCli } from '../../helpers/cli.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowyard-schemas-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the orders-avro example on a topic of its own; returns the file and the topic. */
function topology(extraSource: string[] = [], format = 'avro'): { file: string; topic: string } {
  const topic = uniqueName('schemas-cli');
  const file = join(dir, `${topic}.yaml`);
  writeFileSync(
    file,
    [
      'name: orders-avro',
      'source:',
      `  topic: ${topic}`,
      `  format: ${format}`,
      ...(format === 'avro' ? ['  schema: order-event'] : []),
      ...extraSource,
      '  key: customer.id',
      '  id: eventId',
      'mode: fanout',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders-avro.ledger }',
      '',
    ].join('\n'),
  );
  return { file, topic };
}

const registry = ['--registry-url', registryUrl()];
const v2 = ['--schema-file', join(FIXTURES_DIR, 'order-event-v2.avsc')];
const v3 = ['--schema-file', join(FIXTURES_DIR, 'order-event-v3.avsc')];

test('check before anything is registered, push, then check v2 (compatible) and v3 (incompatible, with the reasons)', async () => {
  const { file, topic } = topology();
  const subject = `${topic}-value`;

  const fresh = await captureCli('schemas', 'check', file, ...registry);
  expect(fresh).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^compatible ${subject}: nothing registered yet \\(.*schemas/order-event\\.avsc\\)\\n$`)), stderr: '' });

  const pushed = await captureCli('schemas', 'push', file, ...registry);
  expect(pushed.code).toBe(0);
  expect(pushed.stdout).toMatch(new RegExp(`^registered ${subject}: schema id \\d+ \\(.*schemas/order-event\\.avsc\\)\\n$`));
  const latest = await new RegistryClient(registryUrl()).latest(subject);
  expect(pushed.stdout).toContain(`schema id ${latest.id} `);
  expect(latest.version).toBe(1);

  const compatible = await captureCli('schemas', 'check', file, ...registry, ...v2);
  expect(compatible).toEqual({ code: 0, stdout: `compatible ${subject}: ${v2[1]} can follow version 1 (schema id ${latest.id})\n`, stderr: '' });

  const incompatible = await captureCli('schemas', 'check', file, ...registry, ...v3);
  expect(incompatible.code).toBe(2);
  expect(incompatible.stdout).toBe('');
  const lines = incompatible.stderr.trimEnd().split('\n');
  // Apicurio's two findings: the changed type of amountCents and the new field without a default
  expect(lines).toEqual(
    expect.arrayContaining([
      `${subject}: ${v3[1]} is not compatible with the latest registered version: reader type: STRING not compatible with writer type: LONG at /fields/4/type`,
      `${subject}: ${v3[1]} is not compatible with the latest registered version: warehouse at /fields/7`,
    ]),
  );
  expect(lines).toHaveLength(2);

  // push refuses v3 the same way, and registers nothing
  const refused = await captureCli('schemas', 'push', file, ...registry, ...v3);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(new RegExp(`^${subject}: the registry refused ${v3[1]} \\(409\\): .*reader type: STRING not compatible with writer type: LONG`));
  expect((await new RegistryClient(registryUrl()).latest(subject)).version).toBe(1);

  // v2 goes in as version 2
  const pushedV2 = await captureCli('schemas', 'push', file, ...registry, ...v2);
  expect(pushedV2.code).toBe(0);
  expect((await new RegistryClient(registryUrl()).latest(subject)).version).toBe(2);
});

test('topic-record-name strategy: the subject is <topic>-<record full name>', async () => {
  const { file, topic } = topology(['  subjectNameStrategy: topic-record-name']);
  const pushed = await captureCli('schemas', 'push', file, ...registry);
  expect(pushed.code).toBe(0);
  expect(pushed.stdout).toMatch(new RegExp(`^registered ${topic}-dev\\.flowyard\\.orders\\.OrderEvent: schema id \\d+ `));
  expect((await new RegistryClient(registryUrl()).latest(`${topic}-dev.flowyard.orders.OrderEvent`)).version).toBe(1);
});

test('SCHEMA_REGISTRY_URL is the default registry', async () => {
  const { file, topic } = topology();
  const saved = process.env.SCHEMA_REGISTRY_URL;
  process.env.SCHEMA_REGISTRY_URL = registryUrl();
  try {
    expect(await captureCli('schemas', 'check', file)).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^compatible ${topic}-value: nothing registered yet`)), stderr: '' });
  } finally {
    if (saved === undefined) delete process.env.SCHEMA_REGISTRY_URL;
    else process.env.SCHEMA_REGISTRY_URL = saved;
  }
});

test('invalid input exits 2 with one line per problem', async () => {
  const json = topology([], 'json');
  expect(await captureCli('schemas', 'push', json.file, ...registry)).toEqual({
    code: 2,
    stdout: '',
    stderr: `${json.file}: source format is json; schemas push and check are for avro sources\n`,
  });

  const { file } = topology();
  const saved = process.env.SCHEMA_REGISTRY_URL;
  delete process.env.SCHEMA_REGISTRY_URL;
  try {
    expect(await captureCli('schemas', 'check', file)).toEqual({ code: 2, stdout: '', stderr: 'no schema registry: set SCHEMA_REGISTRY_URL or pass --registry-url\n' });
  } finally {
    if (saved !== undefined) process.env.SCHEMA_REGISTRY_URL = saved;
  }

  expect(await captureCli('schemas', 'check', file, ...registry, '--schemas-dir', dir)).toEqual({
    code: 2,
    stdout: '',
    stderr: `${file}: source schema order-event has no file order-event.avsc in ${dir}; pass --schema-file\n`,
  });

  const notAvro = join(dir, 'not-avro.avsc');
  writeFileSync(notAvro, '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}');
  const invalid = await captureCli('schemas', 'check', file, ...registry, '--schema-file', notAvro);
  expect(invalid.code).toBe(2);
  expect(invalid.stderr).toMatch(new RegExp(`^${notAvro}: not a valid Avro record schema: .*nope`));
});

test('a registry URL with the wrong path is a failure, never "nothing registered yet"', async () => {
  const { file } = topology();
  const misaddressed = registryUrl().replace(/\/apis\/ccompat\/v7$/, '') + '/not-the-api';
  const result = await captureCli('schemas', 'check', file, '--registry-url', misaddressed);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toContain(`registry ${misaddressed} answered 404 to GET /subjects/`);
});

test('an unreachable registry is a runtime failure (exit 1), not invalid input', async () => {
  const { file } = topology();
  const url = `http://127.0.0.1:${await freePort()}/apis/ccompat/v7`; // nothing listens there
  const result = await captureCli('schemas', 'check', file, '--registry-url', url);
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`registry ${url} is unreachable`);
  expect(result.stderr).toContain('ECONNREFUSED');
});
