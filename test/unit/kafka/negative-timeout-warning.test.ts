/**
 * Node >= 23 prints a TimeoutNegativeWarning for every negative timeout, and kafkajs' request queue
 * sets one whenever the broker has not throttled. Proves, in a child process (warnings go to the
 * real process's stderr, which jest's sandbox does not see), that only the warning kafkajs' request
 * queue causes is dropped: a negative timeout set anywhere else still warns.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const filterModule = pathToFileURL(resolve('src/kafka/kafkajs/negative-timeout-warning.ts')).href;

/** A module at the path kafkajs' request queue has, scheduling a timeout as kafkajs does. */
function fakeRequestQueueModule(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'fy-kafkajs-')), 'kafkajs', 'src', 'network', 'requestQueue');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.mjs');
  writeFileSync(file, 'export function schedule() { clearTimeout(setTimeout(() => {}, -1 - Date.now())); }\n');
  return pathToFileURL(file).href;
}

/** Node prints this warning once per process, so each case runs in a child of its own. */
function stderrOf(installFilter: boolean, from: 'kafkajs' | 'elsewhere'): string {
  const script = [
    `const { dropKafkajsNegativeTimeoutWarnings } = await import(${JSON.stringify(filterModule)});`,
    installFilter ? 'dropKafkajsNegativeTimeoutWarnings();' : '',
    from === 'kafkajs'
      ? `(await import(${JSON.stringify(fakeRequestQueueModule())})).schedule();`
      : 'clearTimeout(setTimeout(() => {}, -5));',
    "process.emitWarning('still here', 'SomeOtherWarning');",
  ].join('\n');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`child failed (${String(child.status)}):\n${child.stderr}`);
  return child.stderr;
}

test("a negative timeout from kafkajs' request queue prints nothing, and other warnings still print", () => {
  const stderr = stderrOf(true, 'kafkajs');
  expect(stderr).not.toContain('TimeoutNegativeWarning');
  expect(stderr).toContain('SomeOtherWarning: still here');
});

test('a negative timeout set anywhere else still warns', () => {
  expect(stderrOf(true, 'elsewhere')).toContain('TimeoutNegativeWarning: -5 is a negative number');
});

test("without the filter kafkajs' negative timeout warns (the first case is not vacuous)", () => {
  expect(stderrOf(false, 'kafkajs')).toMatch(/TimeoutNegativeWarning: -\d{10,} is a negative number/);
});
