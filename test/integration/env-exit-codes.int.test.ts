/**
 * The installed command refuses bad configuration before it touches anything: each bad
 * environment value and each bad flag exits 2 with a message naming the variable or flag,
 * prints nothing on stdout (no ops server, no connection) and ends at once. Runs the built
 * bin (`npm run build` first) as a child process, as a user or a Kubernetes pod would.
 * A runtime failure at start exits 1 and ends the process. `--help` lists every command and
 * `--version` prints the package version.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { repo, requireBuild, spawnCli } from '../helpers/cli.js';

const topology = 'topologies/orders-fanout.yaml';
/** Far longer than a refusal takes (~0.3 s); a command that does not end by then hangs. */
const HANG_MS = 20_000;

const flowyard = (args: readonly string[], vars: Record<string, string> = {}) => spawnCli(args, vars, HANG_MS);

beforeAll(requireBuild);

describe('a bad environment value exits 2 naming the variable, before anything starts', () => {
  const cases: readonly [string, Record<string, string>, RegExp][] = [
    ['KAFKA_BROKERS', { KAFKA_BROKERS: 'nohost' }, /^environment: KAFKA_BROKERS="nohost": expected a comma-separated list of host:port/],
    ['REDIS_URL', { REDIS_URL: 'http://x' }, /^environment: REDIS_URL="http:\/\/x": expected a URL starting with redis:\/\/ or rediss:\/\//],
    ['FLOWYARD_HTTP_PORT', { FLOWYARD_HTTP_PORT: '99999' }, /^environment: FLOWYARD_HTTP_PORT="99999": expected an integer from 0 to 65535/],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }, /^environment: LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent/],
    ['KAFKA_SASL_MECHANISM', { KAFKA_SASL_MECHANISM: 'gssapi' }, /^environment: KAFKA_SASL_MECHANISM="gssapi": expected one of plain, scram-sha-256, scram-sha-512/],
    ['KAFKA_SASL_USERNAME without a mechanism', { KAFKA_SASL_USERNAME: 'svc-flowyard' }, /^environment: KAFKA_SASL_USERNAME\/KAFKA_SASL_PASSWORD are set but KAFKA_SASL_MECHANISM is not/],
    ['KAFKA_TLS', { KAFKA_TLS: 'maybe' }, /^environment: KAFKA_TLS="maybe": expected true or false/],
    ['KAFKA_TLS_CA_FILE', { KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: '/nonexistent' }, /^environment: KAFKA_TLS_CA_FILE="\/nonexistent": cannot read the file \(ENOENT\)/],
    ['SCHEMA_REGISTRY_URL', { SCHEMA_REGISTRY_URL: 'ftp://x' }, /^environment: SCHEMA_REGISTRY_URL="ftp:\/\/x": expected a URL starting with http:\/\/ or https:\/\//],
    ['FLOWYARD_SHUTDOWN_TIMEOUT_MS', { FLOWYARD_SHUTDOWN_TIMEOUT_MS: '-1' }, /^environment: FLOWYARD_SHUTDOWN_TIMEOUT_MS="-1": expected an integer from 100 to 600000/],
  ];

  test.concurrent.each(cases)('%s', async (_name, vars, message) => {
    const result = await flowyard(['run', topology], vars);
    expect(result.signal).toBeNull(); // not killed: it ended by itself
    expect(result.code).toBe(2);
    // Exactly one problem, this one: the other (unset) variables took their defaults.
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(message)]);
    expect(result.stdout).toBe(''); // no log line: no ops server, no connection attempt
  });

  test('several bad values are all reported in one run', async () => {
    const result = await flowyard(['run', topology], { KAFKA_BROKERS: 'nohost', LOG_LEVEL: 'loud', FLOWYARD_SHUTDOWN_TIMEOUT_MS: '50' });
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const name of ['KAFKA_BROKERS', 'LOG_LEVEL', 'FLOWYARD_SHUTDOWN_TIMEOUT_MS']) expect(lines.some((line) => line.startsWith(`environment: ${name}=`))).toBe(true);
  });

  test('the same variables, valid, pass: the cases above fail for their value, not for being set', async () => {
    // --roles is checked after the environment would be; an unknown role isolates the env check without starting anything.
    const valid = {
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL: 'redis://127.0.0.1:6379',
      FLOWYARD_HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      KAFKA_TLS: 'false',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081',
      FLOWYARD_SHUTDOWN_TIMEOUT_MS: '1000',
    };
    const result = await flowyard(['topics', 'create', 'no-such-file.yaml'], valid);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('no-such-file.yaml: cannot read the topology file: no such file\n');
  });
});

describe('a bad flag exits 2 naming the flag, before anything starts', () => {
  test('run --roles foo', async () => {
    const result = await flowyard(['run', topology, '--roles', 'foo']);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('--roles: unknown role(s) foo; expected a comma-separated list of router, worker, tracker, sequencer or all\n');
    expect(result.stdout).toBe('');
  });

  test('run --destinations nope: refused before the ops server starts, and the process ends', async () => {
    const result = await flowyard(['run', topology, '--destinations', 'ledger,nope']);
    expect(result.signal).toBeNull(); // before the fix: the refusal was printed, then the process ran on until killed
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('--destinations: nope not in topology orders (it has ledger, inventory, notify)\n');
    expect(result.stdout).toBe('');
  });

  test('produce --events 0', async () => {
    const result = await flowyard(['produce', topology, '--events', '0']);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('--events: "0" is not a positive integer\n');
    expect(result.stdout).toBe('');
  });

  test('an unknown option is a usage error (2), naming it', async () => {
    const result = await flowyard(['run', topology, '--role', 'router']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--role'");
  });
});

describe('a runtime failure exits 1 and the process ends', () => {
  test('run on a topology whose topics were never created', async () => {
    // Past configuration checks, the plan cannot start (its topics are missing): the
    // connections already open must not keep the process alive.
    const dir = mkdtempSync(join(tmpdir(), 'flowyard-exit-'));
    const name = `it-${randomBytes(4).toString('hex')}`;
    const file = join(dir, 'topology.yaml');
    writeFileSync(file, [`name: ${name}`, `source: { topic: ${name}.events, key: customerId, id: eventId }`, 'mode: fanout', 'destinations:', '  - name: ledger', `    sink: { type: kafka, topic: ${name}.ledger }`, ''].join('\n'));
    try {
      const result = await flowyard(['run', file, '--roles', 'router,worker'], pick(process.env, ['KAFKA_BROKERS', 'REDIS_URL']));
      expect(result.signal).toBeNull(); // before the fix: the error was printed, then the process ran on until killed
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^flowyard: .*topic\(s\) .* do not exist; create them with `flowyard topics create /);
      expect(result.ms).toBeLessThan(HANG_MS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('run with a postgres destination whose table does not exist', async () => {
    // The sink checks its table at start: one line naming the destination and the table, no stack trace.
    const dir = mkdtempSync(join(tmpdir(), 'flowyard-exit-'));
    const name = `it-${randomBytes(4).toString('hex')}`;
    const file = join(dir, 'topology.yaml');
    const pgUrl = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/flowyard';
    writeFileSync(
      file,
      [
        `name: ${name}`,
        `source: { topic: ${name}.events, key: customerId, id: eventId }`,
        'mode: fanout',
        'destinations:',
        '  - name: ledger',
        `    sink: { type: postgres, url: "${pgUrl}", table: no_such_table, conflictKey: event_id, columns: { event_id: $eventId } }`,
        '',
      ].join('\n'),
    );
    const vars = pick(process.env, ['KAFKA_BROKERS', 'REDIS_URL']);
    try {
      expect((await flowyard(['topics', 'create', file], vars)).code).toBe(0);
      const result = await flowyard(['run', file, '--roles', 'worker'], vars);
      expect(result.signal).toBeNull();
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('flowyard: postgres sink of destination ledger: table no_such_table does not exist in database flowyard; create it or fix `table`\n');
      expect(result.ms).toBeLessThan(HANG_MS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function pick(vars: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (vars[n] === undefined ? [] : [[n, vars[n]]])));
}

describe('--help and --version', () => {
  /** Every command path of the program, e.g. `validate`, `topics create`. */
  function commandPaths(command: Command, prefix: readonly string[] = []): string[][] {
    return command.commands.flatMap((sub) => {
      const path = [...prefix, sub.name()];
      return sub.commands.length > 0 ? [path, ...commandPaths(sub, path)] : [path];
    });
  }

  test('--help lists every command, and each group lists its subcommands', async () => {
    const paths = commandPaths(buildProgram());
    // The commands the issues ask for are among them (a registry that lost one fails here).
    for (const needed of [['validate'], ['plan'], ['topics', 'create'], ['run'], ['produce']]) {
      expect(paths).toContainEqual(needed);
    }
    const top = await flowyard(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: flowyard /);
    expect(top.stdout).toContain('Exit codes: 0 ok, 1 runtime failure, 2 invalid input or config.');
    for (const path of paths) {
      const parent = path.slice(0, -1);
      const help = parent.length === 0 ? top : await flowyard([...parent, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^  ${path[path.length - 1]}\\b`, 'm'));
    }
  });

  test('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(`${repo}package.json`, 'utf8')) as { version: string };
    const result = await flowyard(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
