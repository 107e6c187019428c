/**
 * The installed command works: builds the package (as `npm run build` does, into a temp
 * dir so the shared dist/ is left alone) and spawns `node bin/flowyard.js` for real.
 * No servers needed; the build makes this the slowest unit test (~10 s).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'flowyard-bin-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(repo, 'bin/flowyard.js'), join(root, 'bin/flowyard.js'));
  copyFileSync(join(repo, 'package.json'), join(root, 'package.json'));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
  const tsc = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.build.json'), '--outDir', join(root, 'dist')], {
    encoding: 'utf8',
  });
  // Type errors are the typecheck's business; tsc still emits, and this test needs only the output.
  if (!existsSync(join(root, 'dist/cli/main.js'))) throw new Error(`build failed:\n${tsc.stdout}${tsc.stderr}`);
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function flowyard(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(root, 'bin/flowyard.js'), ...args], { cwd: repo, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('validate: exit 0 and an ok line per example', () => {
  const result = flowyard('validate', 'topologies/orders-fanout.yaml', 'topologies/orders-cascade.yaml', 'topologies/orders-dag.yaml');
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(result.stdout.trim().split('\n')).toEqual([
    expect.stringMatching(/^ok orders: fanout, 3 destinations, plan orders@[0-9a-f]{8}$/),
    expect.stringMatching(/^ok orders: cascade, 3 destinations, plan orders@[0-9a-f]{8}$/),
    expect.stringMatching(/^ok orders: dag, 4 destinations, plan orders@[0-9a-f]{8}$/),
  ]);
});

test('validate loads no sink driver: pg and undici are imported only when a sink is created', () => {
  // Both are CommonJS packages, so everything loaded shows in the CJS module cache at exit.
  const report = join(root, 'loaded.mjs');
  writeFileSync(
    report,
    "import { createRequire } from 'node:module';\n" +
      'const require = createRequire(import.meta.url);\n' +
      "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));\n",
  );
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(report).href, join(root, 'bin/flowyard.js'), 'validate', 'topologies/orders-demo.yaml'], {
    cwd: repo,
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  const loaded = JSON.parse(/^LOADED (.*)$/m.exec(result.stderr)?.[1] ?? 'null') as string[];
  const packages = new Set(loaded.flatMap((path) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1] ?? []));
  // The probe sees CJS packages at all (the YAML parser and ajv are loaded to validate).
  expect(packages).toContain('ajv');
  expect([...packages].filter((name) => name === 'pg' || name === 'undici')).toEqual([]);
});

test('validate: exit 2 with file:line:col problems on stderr', () => {
  const result = flowyard('validate', 'package.json');
  expect(result.status).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^package\.json:\d+:\d+: /);
});

test('plan --format mermaid, and a bad format exits 2', () => {
  const ok = flowyard('plan', 'topologies/orders-dag.yaml', '--format', 'mermaid');
  expect(ok.status).toBe(0);
  expect(ok.stdout.startsWith('flowchart LR\n')).toBe(true);
  const bad = flowyard('plan', 'topologies/orders-dag.yaml', '--format', 'svg');
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain("'--format <format>'");
});
