/**
 * SIGTERM ends `flowyard run` with every role (router, workers, a compensation worker,
 * tracker, sequencer) promptly and cleanly while events flow: exit 0, the last log line
 * "stopped", nothing left holding the process open. The bound (15 s, half the default
 * FLOWYARD_SHUTDOWN_TIMEOUT_MS) is a hang check, not a performance figure: the measured
 * medians are in bench/README.md. Runs the built bin on the real broker and Redis.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, repo, requireBuild } from '../../helpers/cli.js';
import { checkExactlyOnceInOrder, TestPipeline } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';

/** Past this the process is killed and the test fails: a stop that took this long hung. */
const EXIT_BOUND_MS = 15_000;

beforeAll(requireBuild);

test('SIGTERM while events flow through every role: exit 0 within the bound, "stopped" logged last', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-shutdown-'));
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    compensate: { type: kafka, topic: '{name}.reversals' }
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
    ordering: none
ordering: { sequencer: { output: '{name}.sequenced', holdMs: 500 } }
`);
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, pipeline.yaml);
  const child = spawn(process.execPath, [bin, 'run', file], { cwd: repo, env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    expect(await eventually(() => stdout.includes('"msg":"plan running"'), 60_000)).toBe(true);
    const { records } = pipeline.samples(2_000, 50);
    await pipeline.produce(records);
    // Mid-stream: some completions are in, more are coming.
    expect(await eventually(() => pipeline.completions.length > 0, 60_000, 20)).toBe(true);
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), EXIT_BOUND_MS);
    const result = await exited;
    clearTimeout(killer);
    expect(result).toEqual({ code: 0, signal: null });
    expect(stderr).toBe('');
    const messages = stdout.trimEnd().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toContain('shutting down');
    expect(messages[messages.length - 1]).toBe('stopped');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await pipeline.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker (http, redis, postgres sinks) stopped while its writes are in flight stops, and the next run writes each event exactly once', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - { name: hook, sink: { type: http, url: 'http://127.0.0.1:9/recorded-instead' }, concurrency: 16 }
`);
  try {
    pipeline.behaviours.set('hook', () => new Promise<void>((resolve) => setTimeout(resolve, 20)));
    const { records, eventIds } = pipeline.samples(6_000, 300);
    await pipeline.produce(records);
    await pipeline.start(['router', 'worker']);
    expect(await eventually(async () => (await pipeline.written('hook')).length >= 300, 60_000, 20)).toBe(true);
    // Records whose writes are in flight used to stay "in flight" for ever once a step after
    // the write saw the stop: this stop never returned.
    await pipeline.stopRoles();
    expect((await pipeline.written('hook')).length).toBeLessThan(records.length);
    await pipeline.start(['router', 'worker']);
    expect(await eventually(async () => new Set((await pipeline.written('hook')).map((w) => w.eventId)).size === records.length, 120_000, 250)).toBe(true);
    await pipeline.drained();
    expect(checkExactlyOnceInOrder(await pipeline.written('hook'), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
  } finally {
    await pipeline.close();
  }
});
