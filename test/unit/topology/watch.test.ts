/**
 * watchTopology reports each real change of a topology file: edited in place, or swapped
 * the way Kubernetes updates a mounted ConfigMap (a new `..data` symlink renamed over the
 * old one, so the file's inode changes). Unchanged content and closed watchers stay quiet.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchTopology, type TopologyWatcher } from '../../../src/topology/watch.js';
import type { LoadedTopology } from '../../../src/topology/load.js';

function topology(mode: 'fanout' | 'cascade', sinkTopic = 'orders.ledger'): string {
  return [
    'name: orders',
    'source: { topic: orders.events, key: customerId, id: eventId }',
    `mode: ${mode}`,
    'destinations:',
    '  - name: ledger',
    `    sink: { type: kafka, topic: ${sinkTopic} }`,
    '',
  ].join('\n');
}

type Report = { kind: 'plan'; result: LoadedTopology } | { kind: 'invalid'; problems: readonly string[] } | { kind: 'error'; error: unknown };

/** Collects reports; `next()` waits for the next one. */
function recorder(): {
  handlers: Parameters<typeof watchTopology>[1];
  next(timeoutMs?: number): Promise<Report>;
  reports: Report[];
} {
  const reports: Report[] = [];
  let waiting: ((report: Report) => void) | undefined;
  let read = 0;
  const push = (report: Report): void => {
    reports.push(report);
    if (waiting !== undefined && read < reports.length) {
      const resolve = waiting;
      waiting = undefined;
      resolve(reports[read++] as Report);
    }
  };
  return {
    reports,
    handlers: {
      onPlan: (result) => push({ kind: 'plan', result }),
      onInvalid: (problems) => push({ kind: 'invalid', problems }),
      onError: (error) => push({ kind: 'error', error }),
    },
    next(timeoutMs = 5_000) {
      if (read < reports.length) return Promise.resolve(reports[read++] as Report);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no report within ${timeoutMs} ms`)), timeoutMs);
        waiting = (report) => {
          clearTimeout(timer);
          resolve(report);
        };
      });
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Longer than the debounce plus a read: enough for a change to have been reported. */
const SETTLE_MS = 400;

let dir: string;
let watcher: TopologyWatcher | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowyard-watch-'));
});
afterEach(() => {
  watcher?.close();
  watcher = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function modeOf(report: Report): string {
  if (report.kind !== 'plan') throw new Error(`expected a plan, got ${JSON.stringify(report)}`);
  return report.result.plan.mode;
}

test('a file edited in place: each new content once, invalid content as problems', async () => {
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, topology('fanout'));
  const record = recorder();
  watcher = watchTopology(file, record.handlers, { env: {}, debounceMs: 50 });
  await sleep(100); // let the watcher take the current content as its baseline

  writeFileSync(file, topology('cascade'));
  expect(modeOf(await record.next())).toBe('cascade');

  writeFileSync(file, topology('cascade')); // same bytes: a no-op
  await sleep(SETTLE_MS);
  expect(record.reports).toHaveLength(1);

  writeFileSync(file, topology('cascade').replace('mode: cascade', 'mode: ring'));
  expect(await record.next()).toEqual({
    kind: 'invalid',
    problems: [`${file}:3:7: mode must be one of cascade, fanout, dag (got 'ring')`],
  });

  writeFileSync(file, topology('fanout'));
  expect(modeOf(await record.next())).toBe('fanout');
});

test('a ConfigMap mount: swapping the ..data symlink is seen, again and again', async () => {
  // The layout the kubelet writes: topology.yaml -> ..data/topology.yaml, ..data -> ..<timestamp>
  const version = (name: string, content: string): void => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'topology.yaml'), content);
  };
  const swapTo = (name: string): void => {
    symlinkSync(name, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // atomic, as the kubelet does it
  };
  version('..2026_01_01_00_00_00.000000001', topology('fanout'));
  symlinkSync('..2026_01_01_00_00_00.000000001', join(dir, '..data'));
  symlinkSync('..data/topology.yaml', join(dir, 'topology.yaml'));

  const record = recorder();
  watcher = watchTopology(join(dir, 'topology.yaml'), record.handlers, { env: {} });
  await sleep(100);

  version('..2026_01_01_00_01_00.000000002', topology('cascade'));
  swapTo('..2026_01_01_00_01_00.000000002');
  expect(modeOf(await record.next())).toBe('cascade');

  version('..2026_01_01_00_02_00.000000003', topology('fanout', 'orders.ledger-v2'));
  swapTo('..2026_01_01_00_02_00.000000003');
  const report = await record.next();
  expect(modeOf(report)).toBe('fanout');
  expect(report.kind === 'plan' && report.result.plan.destinations[0]?.sink).toEqual({ type: 'kafka', topic: 'orders.ledger-v2' });

  // A resync that writes the same content under a new timestamp changes nothing.
  version('..2026_01_01_00_03_00.000000004', topology('fanout', 'orders.ledger-v2'));
  swapTo('..2026_01_01_00_03_00.000000004');
  await sleep(SETTLE_MS);
  expect(record.reports).toHaveLength(2);
});

test('emitInitial reports the current content; close() ends the reports', async () => {
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, topology('fanout'));
  const record = recorder();
  watcher = watchTopology(file, record.handlers, { env: {}, debounceMs: 50, emitInitial: true });
  expect(modeOf(await record.next())).toBe('fanout');

  watcher.close();
  writeFileSync(file, topology('cascade'));
  await sleep(SETTLE_MS);
  expect(record.reports).toHaveLength(1);
});

test('runningText: a change written before the watch started is reported; the same text is not', async () => {
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, topology('cascade')); // changed after the running plan's text was read
  const record = recorder();
  watcher = watchTopology(file, record.handlers, { env: {}, debounceMs: 50, runningText: topology('fanout') });
  expect(modeOf(await record.next())).toBe('cascade');
  watcher.close();

  const same = recorder();
  watcher = watchTopology(file, same.handlers, { env: {}, debounceMs: 50, runningText: topology('cascade') });
  await sleep(SETTLE_MS);
  expect(same.reports).toEqual([]);
  writeFileSync(file, topology('fanout'));
  expect(modeOf(await same.next())).toBe('fanout');
});

test('a deleted file is reported once as unreadable, and its return as a plan', async () => {
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, topology('fanout'));
  const record = recorder();
  watcher = watchTopology(file, record.handlers, { env: {}, debounceMs: 50 });
  await sleep(100);

  rmSync(file);
  const gone = await record.next();
  expect(gone).toEqual({ kind: 'invalid', problems: [expect.stringContaining(`${file}: cannot read the topology file: ENOENT`)] });

  writeFileSync(file, topology('fanout'));
  expect(modeOf(await record.next())).toBe('fanout');
});
