/**
 * `flowyard validate` and `flowyard plan`, run in-process through the CLI's entry point: what they print
 * on stdout and stderr and the exit code (0 ok, 2 invalid input).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureCli } from '../../helpers/cli.js';

const examples = fileURLToPath(new URL('../../../topologies/', import.meta.url));

let dir: string;
let bad: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowyard-cli-'));
  bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    ['name: orders', 'source: { topic: orders.events, key: customerId, id: eventId }', 'mode: cascade', 'destinations:', '  - name: ledger', '    after: [x]', '    sink: { type: kafka }', ''].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flowyard validate', () => {
  test('prints one ok line per valid file and exits 0', async () => {
    const result = await captureCli('validate', `${examples}orders-fanout.yaml`, `${examples}orders-dag.yaml`);
    expect(result).toEqual({
      code: 0,
      stdout: expect.stringMatching(/^ok orders: fanout, 3 destinations, plan orders@[0-9a-f]{8}\nok orders: dag, 4 destinations, plan orders@[0-9a-f]{8}\n$/),
      stderr: '',
    });
  });

  test('checks every file, prints all problems of the invalid ones and exits 2', async () => {
    const missing = join(dir, 'missing.yaml');
    const result = await captureCli('validate', bad, `${examples}orders-cascade.yaml`, missing);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^ok orders: cascade, 3 destinations, plan orders@[0-9a-f]{8}\n$/);
    expect(result.stderr).toBe(
      [
        `${bad}:6:5: 'after' is only allowed in mode dag (in cascade mode the list order is the chain); remove it or set mode: dag`,
        `${bad}:7:11: missing field 'topic' in destinations[0].sink`,
        `${missing}: cannot read the topology file: no such file`,
        '',
      ].join('\n'),
    );
  });

  test('needs at least one file', async () => {
    const result = await captureCli('validate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("missing required argument 'files'");
  });
});

describe('flowyard plan', () => {
  test('prints the text form by default', async () => {
    const result = await captureCli('plan', `${examples}orders-cascade.yaml`);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^plan orders@[0-9a-f]{8}\n {2}mode {10}cascade\n/);
    expect(result.stdout).toContain('  ledger -> inventory  via orders.cascade.inventory\n');
  });

  test('--format json prints the plan as JSON', async () => {
    const result = await captureCli('plan', `${examples}orders-dag.yaml`, '--format', 'json');
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { mode: string; edges: { kind: string }[] };
    expect(plan.mode).toBe('dag');
    expect(plan.edges.filter((edge) => edge.kind === 'join')).toHaveLength(2);
  });

  test('--format mermaid draws a flowchart', async () => {
    const result = await captureCli('plan', `${examples}orders-dag.yaml`, '--format=mermaid');
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith('flowchart LR\n')).toBe(true);
  });

  test('an unknown format exits 2 naming the flag and the choices', async () => {
    const result = await captureCli('plan', `${examples}orders-dag.yaml`, '--format', 'yaml');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("option '--format <format>' argument 'yaml' is invalid. Allowed choices are text, json, mermaid.");
  });

  test('secrets from ${ENV} placeholders in sink headers and URLs print as *** in every format', async () => {
    const file = join(dir, 'secrets.yaml');
    writeFileSync(
      file,
      [
        'name: orders',
        'source: { topic: orders.events, key: customerId, id: eventId }',
        'mode: fanout',
        'destinations:',
        '  - name: notify',
        '    sink:',
        '      type: http',
        '      url: "https://hook:${FY_CLI_TEST_PASSWORD}@hooks.example.com/v1/orders?token=${FY_CLI_TEST_TOKEN}"',
        '      headers: { Authorization: "Bearer ${FY_CLI_TEST_TOKEN}" }',
        '',
      ].join('\n'),
    );
    process.env.FY_CLI_TEST_PASSWORD = 'cli-pa55word';
    process.env.FY_CLI_TEST_TOKEN = 'cli-s3cr3t';
    try {
      for (const format of ['text', 'json', 'mermaid']) {
        const result = await captureCli('plan', file, '--format', format);
        expect([format, result.code, result.stderr]).toEqual([format, 0, '']);
        expect(result.stdout).toContain('https://hook:***@hooks.example.com/v1/orders?token=***');
        expect(result.stdout).not.toMatch(/cli-pa55word|cli-s3cr3t/);
      }
    } finally {
      delete process.env.FY_CLI_TEST_PASSWORD;
      delete process.env.FY_CLI_TEST_TOKEN;
    }
  });

  test('an invalid topology exits 2 with its problems', async () => {
    const result = await captureCli('plan', bad);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toHaveLength(3);
  });
});
