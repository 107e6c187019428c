/**
 * Hot reload against a running process: `node bin/flowyard.js run <file> --roles all`
 * on the real broker and Redis, with Kafka sinks read back by a tail.
 *
 * - a valid change switches plans without a restart: the log names both plan ids, the pid
 *   stays, and events produced afterwards flow through the new plan (they reach a destination
 *   the new plan added, and carry its id in `fy-plan`);
 * - an invalid change is rejected with `file:line:col` problems and the old plan keeps
 *   processing new events;
 * - the same through a Kubernetes ConfigMap mount, where an update renames a new `..data`
 *   symlink over the old one (including a mode change and a rename, which is refused);
 * - SIGTERM ends the process with 0 within the shutdown bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Admin } from 'kafkajs';
import type { ConsumedRecord } from '../../src/kafka/records.js';
import type { Tail } from '../../src/kafka/port.js';
import { parseTopology } from '../../src/topology/load.js';
import { testKafka, uniqueName } from '../helpers/servers.js';
import { outsideKafka } from '../helpers/outside-kafka.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
/** The shutdown bound the process is given; SIGTERM must end it well within this plus start-up slack. */
const SHUTDOWN_TIMEOUT_MS = 15_000;
/** How long a step (a switch, a batch reaching its sinks) may take before the test calls it lost. */
const STEP_MS = 60_000;

interface LogLine {
  readonly msg: string;
  readonly level: string;
  readonly [field: string]: unknown;
}

/** A `flowyard run` child process and its JSON log lines. */
class RunningFlowyard {
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private partial = '';
  private readonly listeners = new Set<() => void>();

  constructor(file: string) {
    this.child = spawn(process.execPath, [join(repo, 'bin/flowyard.js'), 'run', file, '--roles', 'all'], {
      cwd: repo,
      env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'info', FLOWYARD_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (this.partial + chunk.toString()).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line, level: 'raw' });
        }
      }
      for (const listener of this.listeners) listener();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line (from `from` on) that matches; fails after `timeoutMs` or if the process ends. */
  waitForLog(match: (line: LogLine) => boolean, from = 0, timeoutMs = STEP_MS): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.logs.slice(from).find(match);
        if (found === undefined) return false;
        finish();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no such log line within ${timeoutMs} ms; the process logged:\n${this.tail()}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (): void => void check();
      if (check()) return;
      this.listeners.add(listener);
      void this.exited.then(() => {
        if (this.listeners.has(listener) && !check()) {
          finish();
          reject(new Error(`the process ended; it logged:\n${this.tail()}`));
        }
      });
    });
  }

  /** The last lines of the log, without kafkajs' chatter, for failure messages. */
  tail(lines = 30): string {
    const ours = this.logs.filter((l) => l.component !== 'kafkajs').slice(-lines);
    return `${ours.map((l) => JSON.stringify(l).slice(0, 600)).join('\n')}\nstderr: ${this.stderr}`;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Reads sink topics from their current end: which event ids arrived, under which plan, how often. */
class Sinks {
  readonly records: ConsumedRecord[] = [];
  private readonly tails: Tail[] = [];

  async follow(topics: readonly string[]): Promise<void> {
    this.tails.push(await kafka.tail(topics, (record) => this.records.push(record)));
  }

  /** Plan id per event id that reached `topic` (last one wins; `copies` counts all). */
  plans(topic: string): Map<string, string> {
    return new Map(this.records.filter((r) => r.topic === topic).map((r) => [r.headers['fy-event-id']!, r.headers['fy-plan']!]));
  }

  copies(topic: string, eventId: string): number {
    return this.records.filter((r) => r.topic === topic && r.headers['fy-event-id'] === eventId).length;
  }

  /** Waits until every id reached `topic`; returns the plan each came through. */
  async arrived(topic: string, ids: readonly string[], timeoutMs = STEP_MS): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const plans = this.plans(topic);
      if (ids.every((id) => plans.has(id))) return ids.map((id) => plans.get(id)!);
      if (Date.now() > deadline) throw new Error(`${ids.filter((id) => !plans.has(id)).length} of ${ids.length} events never reached ${topic}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.tails.map((t) => t.stop()));
  }
}

const kafka = await testKafka('hot-reload-test');
/** The operator's admin tool and the source's producers: clients other than flowyard's. */
const outside = outsideKafka('hot-reload-test');
let admin: Admin;
let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  if (!existsSync(join(repo, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run -s build` first');
  admin = outside.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin.disconnect();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowyard-reload-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Version {
  readonly mode?: 'fanout' | 'cascade';
  readonly destinations: readonly { name: string; concurrency?: number }[];
  readonly name?: string;
}

/** A topology of run `name`: every destination writes to the Kafka topic `<name>.<destination>-out`. */
function topology(name: string, version: Version): string {
  return [
    `name: ${version.name ?? name}`,
    `source: { topic: ${name}.events, key: customerId, id: eventId }`,
    `mode: ${version.mode ?? 'fanout'}`,
    'partitions: 2',
    'destinations:',
    ...version.destinations.flatMap((d) => [
      `  - name: ${d.name}`,
      `    sink: { type: kafka, topic: ${name}.${d.name}-out }`,
      ...(d.concurrency === undefined ? [] : [`    concurrency: ${d.concurrency}`]),
    ]),
    '',
  ].join('\n');
}

function planId(text: string): string {
  return parseTopology(text, 'topology.yaml', {}).plan.id;
}

/**
 * Runs `flowyard topics create` through the bin, as an operator would before `run`. Set-up
 * only, so a runtime failure (1) is tried again: kafkajs' admin reads the metadata of every
 * topic on the broker and fails when any of them, another test's, is being created or deleted.
 */
async function createTopics(file: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const child = spawn(process.execPath, [join(repo, 'bin/flowyard.js'), 'topics', 'create', file], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code === 0) return;
    if (code !== 1 || attempt === 3) throw new Error(`topics create exited ${code}: ${output}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

let batchNo = 0;
/** Produces `count` events to the source topic; returns their event ids. */
async function produceBatch(name: string, count = 20): Promise<string[]> {
  const batch = `b${(batchNo += 1)}`;
  const ids = Array.from({ length: count }, (_, i) => `${name}-${batch}-${i}`);
  // A producer per batch: kafkajs refreshes metadata of every topic a producer ever wrote,
  // and an earlier test's deleted topics would fail the send.
  const producer = outside.producer();
  await producer.connect();
  try {
    await producer.send({
      topic: `${name}.events`,
      messages: ids.map((eventId, n) => ({ key: `customer-${n % 4}`, value: JSON.stringify({ eventId, customerId: `customer-${n % 4}`, n }) })),
    });
  } finally {
    await producer.disconnect();
  }
  return ids;
}

async function start(file: string, initialPlan: string): Promise<RunningFlowyard> {
  const run = new RunningFlowyard(file);
  cleanups.push(async () => {
    if (run.running) {
      run.kill('SIGKILL');
      await run.exited;
    }
  });
  await run.waitForLog((l) => l.msg === 'plan running' && l.plan === initialPlan);
  return run;
}

/** SIGTERM: a graceful stop with exit code 0, within the shutdown bound. */
async function stopGracefully(run: RunningFlowyard): Promise<void> {
  const sent = Date.now();
  run.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), SHUTDOWN_TIMEOUT_MS + 5_000)));
  const exit = await Promise.race([run.exited, hung]);
  clearTimeout(timer);
  expect({ exit, stderr: run.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
  expect(Date.now() - sent).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
  expect(run.logs.some((l) => l.msg === 'stopped')).toBe(true);
}

function expectOnce(sinks: Sinks, topic: string, ids: readonly string[]): void {
  const copies = ids.map((id) => sinks.copies(topic, id));
  expect(copies.filter((n) => n !== 1)).toEqual([]);
}

async function deleteTopicsOf(name: string): Promise<void> {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${name}.`));
  if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
}

test('a file edited in place: a valid change switches plans in the same process, an invalid one keeps the running plan', async () => {
  const name = uniqueName('it');
  cleanups.push(() => deleteTopicsOf(name));
  const file = join(dir, 'topology.yaml');
  const v1 = topology(name, { destinations: [{ name: 'ledger' }] });
  // Valid change: a new destination (whose topics do not exist yet) and another concurrency.
  const v2 = topology(name, { destinations: [{ name: 'ledger', concurrency: 4 }, { name: 'audit' }] });
  const [id1, id2] = [planId(v1), planId(v2)];
  expect(id1).not.toBe(id2);
  writeFileSync(file, v1);
  await createTopics(file);

  const sinks = new Sinks();
  cleanups.push(() => sinks.stop());
  await sinks.follow([`${name}.ledger-out`]);
  const run = await start(file, id1);
  const pid = run.pid;

  const before = await produceBatch(name);
  expect(await sinks.arrived(`${name}.ledger-out`, before)).toEqual(before.map(() => id1));

  // (a) a valid change
  let mark = run.logs.length;
  writeFileSync(file, v2);
  await run.waitForLog((l) => l.msg === 'plan switched: the new plan runs' && l.from === id1 && l.to === id2, mark);
  expect(run.logs.slice(mark).some((l) => l.msg === 'topology changed: handing over to the new plan' && l.from === id1 && l.to === id2)).toBe(true);
  expect(run.pid).toBe(pid);
  expect(run.running).toBe(true);
  await sinks.follow([`${name}.audit-out`]); // created by the hand-over
  const after = await produceBatch(name);
  expect(await sinks.arrived(`${name}.ledger-out`, after)).toEqual(after.map(() => id2));
  expect(await sinks.arrived(`${name}.audit-out`, after)).toEqual(after.map(() => id2));

  // (b) an invalid change: problems with file:line:col, the running plan stays and keeps working
  mark = run.logs.length;
  const invalid = v2.replace('mode: fanout', 'mode: ring').replace('concurrency: 4', 'concurrency: 0');
  writeFileSync(file, invalid);
  const rejected = await run.waitForLog((l) => l.msg === 'topology change rejected; the running plan stays', mark);
  expect(rejected).toMatchObject({
    level: 'error',
    file,
    plan: id2,
    problems: [`${file}:3:7: mode must be one of cascade, fanout, dag (got 'ring')`, expect.stringMatching(new RegExp(`^${file}:8:18: `))],
  });
  const during = await produceBatch(name);
  expect(await sinks.arrived(`${name}.ledger-out`, during)).toEqual(during.map(() => id2));
  expect(await sinks.arrived(`${name}.audit-out`, during)).toEqual(during.map(() => id2));
  expect(run.logs.slice(mark).filter((l) => l.msg.startsWith('plan switched') || l.msg.startsWith('topology changed'))).toEqual([]);
  expect(run.pid).toBe(pid);

  // Nothing written twice across the hand-over.
  expectOnce(sinks, `${name}.ledger-out`, [...before, ...after, ...during]);
  expectOnce(sinks, `${name}.audit-out`, [...after, ...during]);
  expect(run.logs.filter((l) => l.level === 'error' && l.component !== 'kafkajs').map((l) => l.msg)).toEqual(['topology change rejected; the running plan stays']);

  await stopGracefully(run);
});

test('a ConfigMap mount: ..data symlink swaps switch the mode live, and a broken or renamed topology is refused', async () => {
  const name = uniqueName('it');
  cleanups.push(() => deleteTopicsOf(name));
  // The layout the kubelet writes: topology.yaml -> ..data/topology.yaml, ..data -> ..<timestamp>
  let stamp = 0;
  const publish = (content: string): void => {
    const version = `..2026_01_01_00_00_0${stamp}.00000000${stamp}`;
    stamp += 1;
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, 'topology.yaml'), content);
    if (stamp === 1) {
      symlinkSync(version, join(dir, '..data'));
      symlinkSync('..data/topology.yaml', join(dir, 'topology.yaml'));
      return;
    }
    symlinkSync(version, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // atomic, as the kubelet does it
  };
  const file = join(dir, 'topology.yaml');
  const v1 = topology(name, { destinations: [{ name: 'ledger' }, { name: 'audit' }] });
  const v2 = topology(name, { mode: 'cascade', destinations: [{ name: 'ledger' }, { name: 'audit' }] });
  const [id1, id2] = [planId(v1), planId(v2)];
  publish(v1);
  await createTopics(file);

  const sinks = new Sinks();
  cleanups.push(() => sinks.stop());
  await sinks.follow([`${name}.ledger-out`, `${name}.audit-out`]);
  const run = await start(file, id1);
  const pid = run.pid;

  const before = await produceBatch(name);
  expect(await sinks.arrived(`${name}.audit-out`, before)).toEqual(before.map(() => id1));
  expect(await sinks.arrived(`${name}.ledger-out`, before)).toEqual(before.map(() => id1));

  // fanout -> cascade through a ..data swap: new derived topics, a chain ledger -> audit.
  let mark = run.logs.length;
  publish(v2);
  await run.waitForLog((l) => l.msg === 'plan switched: the new plan runs' && l.from === id1 && l.to === id2, mark);
  expect(run.pid).toBe(pid);
  const after = await produceBatch(name);
  expect(await sinks.arrived(`${name}.ledger-out`, after)).toEqual(after.map(() => id2));
  expect(await sinks.arrived(`${name}.audit-out`, after)).toEqual(after.map(() => id2));
  // The cascade really runs: audit is fed by the ledger step through <name>.cascade.audit.
  expect((await admin.listTopics()).filter((t) => t.startsWith(`${name}.cascade.`)).sort()).toEqual([`${name}.cascade.audit`, `${name}.cascade.ledger`]);

  // A broken version: rejected with positions in the mounted path, the cascade keeps running.
  mark = run.logs.length;
  publish(v2.replace('  - name: audit', '  - name: Audit'));
  const rejected = await run.waitForLog((l) => l.msg === 'topology change rejected; the running plan stays', mark);
  expect(rejected).toMatchObject({ file, plan: id2, problems: [expect.stringMatching(new RegExp(`^${file}:8:11: `))] });
  const during = await produceBatch(name);
  expect(await sinks.arrived(`${name}.audit-out`, during)).toEqual(during.map(() => id2));

  // A valid file under another name is a different deployment (new groups would re-read the source): refused too.
  mark = run.logs.length;
  publish(topology(name, { mode: 'cascade', name: `${name}-renamed`, destinations: [{ name: 'ledger' }, { name: 'audit' }] }));
  const renamed = await run.waitForLog((l) => l.msg === 'topology change rejected; the running plan stays', mark);
  expect(renamed).toMatchObject({ plan: id2, problems: [expect.stringContaining(`name changed from ${name} to ${name}-renamed`)] });
  const last = await produceBatch(name);
  expect(await sinks.arrived(`${name}.ledger-out`, last)).toEqual(last.map(() => id2));
  expect(await sinks.arrived(`${name}.audit-out`, last)).toEqual(last.map(() => id2));
  expect(run.logs.slice(mark).filter((l) => l.msg.startsWith('plan switched'))).toEqual([]);

  expectOnce(sinks, `${name}.ledger-out`, [...before, ...after, ...during, ...last]);
  expectOnce(sinks, `${name}.audit-out`, [...before, ...after, ...during, ...last]);
  expect(run.pid).toBe(pid);
  await stopGracefully(run);
});

/*
 * A mode change renames every destination's input topic (<name>.fanout.hook ->
 * <name>.cascade.hook): the old plan's workers keep reading the old topic until no key is in
 * flight in the old plan, so what it still held is delivered (docs/architecture.md §7, invariant 1).
 */
test('a mode change does not strand the events the old plan had not delivered yet', async () => {
  // A slow HTTP destination (one write at a time, 250 ms each) holds a backlog in the old
  // plan's input topic <name>.fanout.hook when the mode changes; the cascade plan reads
  // <name>.cascade.hook. Every event must still reach the destination (invariant 1).
  const received: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      setTimeout(() => {
        received.push((JSON.parse(body) as { eventId: string }).eventId);
        response.writeHead(200).end();
      }, 250);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const name = uniqueName('it');
  cleanups.push(() => deleteTopicsOf(name));
  const file = join(dir, 'topology.yaml');
  const text = (mode: 'fanout' | 'cascade'): string =>
    [
      `name: ${name}`,
      `source: { topic: ${name}.events, key: customerId, id: eventId }`,
      `mode: ${mode}`,
      'partitions: 1',
      'destinations:',
      '  - name: hook',
      `    sink: { type: http, url: "http://127.0.0.1:${port}/hook" }`,
      '    concurrency: 1',
      '',
    ].join('\n');
  writeFileSync(file, text('fanout'));
  await createTopics(file);
  const run = await start(file, planId(text('fanout')));

  const ids = await produceBatch(name, 30);
  expect(await eventuallyTrue(() => received.length >= 3)).toBe(true);
  const mark = run.logs.length;
  writeFileSync(file, text('cascade'));
  await run.waitForLog((l) => l.msg === 'plan switched: the new plan runs' && l.to === planId(text('cascade')), mark);
  const atSwitch = received.length;
  expect(atSwitch).toBeLessThan(ids.length); // the switch really happened with a backlog

  const all = await eventuallyTrue(() => ids.every((id) => received.includes(id)), 20_000);
  expect({ all, missing: ids.filter((id) => !received.includes(id)).length, atSwitch }).toEqual({ all: true, missing: 0, atSwitch });
  // The old plan's workers stop once nothing is in flight there, not at the switch.
  await run.waitForLog((l) => l.msg === 'old plan drained: no key in flight; its workers stop' && (l.drained as string[]).includes(planId(text('fanout'))), mark);
  await stopGracefully(run);
});

async function eventuallyTrue(probe: () => boolean, timeoutMs = STEP_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
