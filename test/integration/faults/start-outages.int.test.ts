/**
 * A process started while a dependency is down waits for it, then does its work; it neither
 * hangs nor crash-loops. Each case runs the built `flowyard run` as a child process, as a
 * Kubernetes pod would, against servers it may take away: a private redis-server and a
 * private PostgreSQL on free ports (the shared ones are never touched).
 * 1. Redis down at start: one log line per try naming Redis, /healthz answers, /readyz does
 *    not; once redis-server starts on that port the router starts and routes every event.
 * 2. Redis that never comes: exit 1 with one line naming Redis and FLOWYARD_START_TIMEOUT_MS.
 * 3. PostgreSQL down at start: the postgres worker waits (no exit 1, no crash loop); once the
 *    server starts it writes every event once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { bin, repo, requireBuild, spawnCli } from '../../helpers/cli.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { PrivatePostgres } from '../../helpers/private-postgres.js';
import { PrivateRedis, eventually, freePort, uniqueName } from '../../helpers/servers.js';

/** Far longer than any start here takes; a process still running then is a hang. */
const HANG_MS = 60_000;

beforeAll(requireBuild);

/** `flowyard run` as a child process whose JSON log lines the test reads as they come. */
class RunningCli {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: readonly string[], vars: Record<string, string>) {
    this.child = spawn(process.execPath, [bin, 'run', ...args], {
      cwd: repo,
      env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'info', ...vars },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const complete = text.split('\n');
      partial = complete.pop()!;
      for (const line of complete) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  logged(message: string | RegExp): Record<string, unknown>[] {
    return this.lines.filter((line) => (typeof message === 'string' ? line.msg === message : message.test(String(line.msg))));
  }

  async until(message: string | RegExp, timeoutMs = HANG_MS): Promise<Record<string, unknown>> {
    expect(await eventually(() => this.logged(message).length > 0, timeoutMs, 50)).toBe(true);
    return this.logged(message)[0]!;
  }

  async httpStatus(path: string): Promise<number> {
    const { port } = await this.until('ops server listening: /metrics /healthz /readyz');
    return (await fetch(`http://127.0.0.1:${String(port)}${path}`)).status;
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), HANG_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

function topologyFile(dir: string, yaml: string): string {
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, yaml);
  return file;
}

test('Redis down at start: the router waits (alive, not ready), then starts and routes once redis-server is up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-start-redis-'));
  const redis = new PrivateRedis(await freePort());
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
`);
  const routed: ConsumedRecord[] = [];
  const ledgerInput = pipeline.plan.destinations[0]!.inputTopic;
  const tail = await pipeline.shared.kafka.tail([ledgerInput], (record) => routed.push(record));
  const run = new RunningCli([topologyFile(dir, pipeline.yaml), '--roles', 'router'], { REDIS_URL: redis.url });
  try {
    const waiting = await run.until(/^waiting for Redis at 127\.0\.0\.1:\d+: /);
    expect(waiting).toMatchObject({ level: 'warn', waitingFor: `Redis at 127.0.0.1:${redis.port}`, reason: expect.stringContaining('ECONNREFUSED') });
    expect(await run.httpStatus('/healthz')).toBe(200);
    expect(await run.httpStatus('/readyz')).toBe(503);
    // Still waiting several tries later, one line each: neither hung silently nor ended.
    expect(await eventually(() => run.logged(/^waiting for Redis/).length >= 3, HANG_MS, 50)).toBe(true);
    expect(run.logged('router running')).toEqual([]);

    await redis.start();
    await run.until('plan running');
    expect(await eventually(async () => (await run.httpStatus('/readyz')) === 200, 30_000)).toBe(true);
    const { records, eventIds } = pipeline.samples(50, 10);
    await pipeline.produce(records);
    expect(await eventually(() => new Set(routed.map((r) => r.headers['fy-event-id'])).size === eventIds.length, HANG_MS)).toBe(true);
    expect(new Set(routed.map((r) => r.headers['fy-event-id']))).toEqual(new Set(eventIds));
    expect(await run.stop()).toEqual({ code: 0, signal: null });
    expect(run.stderr).toBe('');
  } finally {
    await run.stop();
    await tail.stop();
    await pipeline.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Redis that stays down past FLOWYARD_START_TIMEOUT_MS: exit 1 with one line naming Redis and the setting', async () => {
  const port = await freePort();
  const result = await spawnCli(['run', 'topologies/orders-fanout.yaml', '--roles', 'router'], { REDIS_URL: `redis://127.0.0.1:${port}`, FLOWYARD_START_TIMEOUT_MS: '1500' }, HANG_MS);
  expect(result.signal).toBeNull(); // ended by itself, nothing left reconnecting
  expect(result.code).toBe(1);
  expect(result.stderr.trimEnd().split('\n')).toEqual([
    `flowyard: Redis at 127.0.0.1:${port} did not answer within 1.5 s of start (connect ECONNREFUSED 127.0.0.1:${port}); gave up waiting (FLOWYARD_START_TIMEOUT_MS=1500; 0 waits without a bound)`,
  ]);
  const waits = result.stdout.split('\n').filter((line) => line.includes('"waiting for Redis at'));
  expect(waits.length).toBeGreaterThanOrEqual(2);
});

test('PostgreSQL down at start: the postgres worker waits instead of exiting, then writes every event once the server is up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-start-pg-'));
  const server = await PrivatePostgres.create();
  let pipeline: TestPipeline | undefined;
  let run: RunningCli | undefined;
  let db: pg.Pool | undefined;
  try {
    // The table exists (a missing one is a configuration error, tested in env-exit-codes); then the server goes away.
    await server.start();
    const table = uniqueName('fy_start').replace(/-/g, '_');
    const setup = new pg.Client({ connectionString: server.url });
    await setup.connect();
    await setup.query(`create table ${table} (event_id text primary key, customer text not null)`);
    await setup.end();
    await server.stop();

    pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 2
destinations:
  - name: ledger
    sink: { type: postgres, url: '${server.url}', table: ${table}, conflictKey: event_id, columns: { event_id: $eventId, customer: $key } }
    timeoutMs: 2000
`);
    run = new RunningCli([topologyFile(dir, pipeline.yaml), '--roles', 'worker'], {});
    const waiting = await run.until(/^waiting for destination ledger: /);
    expect(waiting).toMatchObject({ destination: 'ledger', reason: expect.stringContaining(`cannot reach PostgreSQL at ${server.url}`) });
    expect(await eventually(() => run!.logged(/^waiting for destination ledger/).length >= 3, HANG_MS, 50)).toBe(true);
    expect(await run.httpStatus('/readyz')).toBe(503);

    await pipeline.start(['router']);
    const { records, eventIds } = pipeline.samples(40, 8);
    await pipeline.produce(records);
    await server.start();
    await run.until('worker running');
    db = new pg.Pool({ connectionString: server.url, max: 1 });
    const rows = async () => (await db!.query<{ event_id: string }>(`select event_id from ${table}`)).rows.map((r) => r.event_id);
    expect(await eventually(async () => (await rows()).length >= eventIds.length, HANG_MS)).toBe(true);
    expect((await rows()).sort()).toEqual([...eventIds].sort());
    expect(pipeline.deadLetters).toEqual([]);
    expect(await run.stop()).toEqual({ code: 0, signal: null });
    expect(run.stderr).toBe('');
  } finally {
    await run?.stop();
    await db?.end();
    await pipeline?.close();
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
