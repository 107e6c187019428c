/**
 * `shadow:` end to end with the real `flowyard run` on the real broker and Redis: a cascade
 * topology with a fan-out shadow. The live sinks get every event exactly once; the shadow's
 * writes land only in its dry-run destinations (a Kafka topic of its own, and an HTTP
 * recorder that refuses three events with 422); `flowyard shadow report` then shows exactly
 * those numbers per destination. A changed `shadow:` (its mode) is switched by the running
 * process: later events reach the dry run under the new shadow plan, nothing is written twice.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvents } from '../../../src/cli/sample-events.js';
import { produce } from '../../../src/kafka/producer.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { readTopics } from '../../../src/shadow/read.js';
import { parseTopology } from '../../../src/topology/load.js';
import { bin, captureCli, requireBuild } from '../../helpers/cli.js';
import { eventually, freePort, testKafka, uniqueName } from '../../helpers/servers.js';
import { answer, HttpReceiver } from '../sinks/http-receiver.js';

function countIds(records: readonly { headers: Readonly<Record<string, string>> }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    const id = record.headers[HEADER.eventId]!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

test('with shadow on, live sinks get each event once, the shadow writes only to its dry-run destinations, and the report counts what was sent', async () => {
  requireBuild();
  const name = uniqueName('it-shadow');
  const { records, eventIds } = sampleEvents({ topics: [`${name}.events`], format: 'json', keyPath: ['customerId'], idPath: ['eventId'] }, { count: 60, keys: 6, runId: name });
  const refused = new Set(eventIds.slice(5, 8));
  const recorder = new HttpReceiver((request, response) => answer(response, refused.has(request.idempotencyKey) ? 422 : 200, refused.has(request.idempotencyKey) ? 'refused by the test' : 'ok'));
  const origin = await recorder.listen();
  const dir = await mkdtemp(join(tmpdir(), 'fy-shadow-'));
  const file = join(dir, 'topology.yaml');
  await writeFile(
    file,
    `name: ${name}
source: { topic: ${name}.events, key: customerId, id: eventId }
mode: cascade
partitions: 3
destinations:
  - { name: ledger, sink: { type: kafka, topic: ${name}.ledger } }
  - { name: notify, sink: { type: kafka, topic: ${name}.notify }, retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } }
shadow:
  mode: fanout
  destinations: { notify: { concurrency: 4 } }
  dryRun: { notify: { type: http, url: "${origin}/recorder" } }
`,
  );
  const { plan } = parseTopology(await readFile(file, 'utf8'), file, {});
  const shadow = plan.shadow!;
  expect(shadow.name).toBe(`${name}-shadow`);
  expect(shadow.destinations.map((d) => d.group)).toEqual([`${name}-shadow.ledger`, `${name}-shadow.notify`]);

  expect((await captureCli('topics', 'create', file)).code).toBe(0);
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'run', file], { env: { ...process.env, FLOWYARD_HTTP_PORT: String(port), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const kafka = await testKafka();
  try {
    expect(await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 120_000, 500)).toBe(true);
    const producer = await kafka.producer();
    await produce(producer, `${name}.events`, records);
    await producer.disconnect();

    const outputs = [`${name}.ledger`, `${name}.notify`, `${name}-shadow.dryrun.ledger`];
    let read = new Map<string, { headers: Readonly<Record<string, string>> }[]>();
    const allThere = async (): Promise<boolean> => {
      read = await readTopics(kafka, [...outputs, shadow.dlqTopic], 30_000);
      return outputs.every((topic) => countIds(read.get(topic)!).size === eventIds.length) && read.get(shadow.dlqTopic)!.length === refused.size && recorder.received.length === eventIds.length;
    };
    expect(await eventually(allThere, 120_000, 1_000)).toBe(true);

    // Live sinks: every event exactly once; the shadow never wrote there.
    for (const topic of [`${name}.ledger`, `${name}.notify`]) {
      const counts = countIds(read.get(topic)!);
      expect({ topic, events: counts.size, repeated: [...counts.values()].filter((c) => c > 1).length }).toEqual({ topic, events: eventIds.length, repeated: 0 });
      expect(read.get(topic)!.every((r) => r.headers[HEADER.plan] === plan.id)).toBe(true);
    }
    // Shadow: its own Kafka dry-run topic and the recorder, once per event; the refused ones dead-lettered in its own DLQ.
    const dryLedger = countIds(read.get(`${name}-shadow.dryrun.ledger`)!);
    expect([...dryLedger.values()].every((c) => c === 1)).toBe(true);
    expect(read.get(`${name}-shadow.dryrun.ledger`)!.every((r) => r.headers[HEADER.plan] === shadow.id)).toBe(true);
    expect(new Set(recorder.received.map((r) => r.idempotencyKey)).size).toBe(eventIds.length);
    expect(recorder.received.every((r) => r.path === '/recorder' && r.nth === 1)).toBe(true);
    expect(read.get(shadow.dlqTopic)!.map((r) => r.headers[HEADER.eventId]).sort()).toEqual([...refused].sort());

    // Both trackers decide every event before the report.
    const decided = async (topic: string, expected: number): Promise<boolean> => {
      const completions = (await readTopics(kafka, [topic], 30_000)).get(topic)!;
      return completions.filter((r) => r.headers[HEADER.kind] === 'event').length >= expected;
    };
    expect(await eventually(async () => (await decided(plan.completionsTopic, eventIds.length)) && (await decided(shadow.completionsTopic, eventIds.length)), 60_000, 1_000)).toBe(true);

    const out = join(dir, 'report.md');
    const html = join(dir, 'report.html');
    const report = await captureCli('shadow', 'report', file, '--out', out, '--html', html);
    expect(report.stderr).toBe('');
    expect(report.code).toBe(0);
    expect(report.stdout).toContain(`live   ${plan.id} (cascade): 60 events completed, 0 failed`);
    expect(report.stdout).toContain(`shadow ${shadow.id} (fanout): 57 events completed, 3 failed`);
    const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/\s{2,}/);
    const lines = report.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('ledger '));
    // destination, plan, completed, failed, DLQ, p50, p95, p99, keys out of source order, only here, keys in another order
    const pick = (row: string[]): string[] => [...row.slice(0, 5), ...row.slice(8)];
    expect(pick(cells(lines[at]))).toEqual(['ledger', 'live', '60', '0', '0', '0', '0', '0 of 6']);
    expect(pick(['', ...cells(lines[at + 1])])).toEqual(['', 'shadow', '60', '0', '0', '0', '0']);
    expect(pick(cells(lines[at + 2]))).toEqual(['notify', 'live', '60', '0', '0', '0', '3', '0 of 6']);
    expect(pick(['', ...cells(lines[at + 3])])).toEqual(['', 'shadow', '57', '3', '3', '0', '0']);
    const markdown = await readFile(out, 'utf8');
    expect(markdown).toMatch(/^\| notify \| live \| 60 \| 0 \| 0 \| \d+ms \| \d+ms \| \d+ms \| 0 \| 3 \| 0 of 6 \|$/m);
    expect(markdown).toMatch(/^\| {2}\| shadow \| 57 \| 3 \| 3 \| /m);
    expect(await readFile(html, 'utf8')).toContain('<td>57</td>');
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    await recorder.close();
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  }
});

test('shadow report on a topology without shadow: exits 2 naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fy-shadow-'));
  const file = join(dir, 't.yaml');
  await writeFile(file, 'name: t\nsource: { topic: t.events, key: k, id: id }\nmode: cascade\ndestinations:\n  - { name: a, sink: { type: kafka, topic: t.a } }\n');
  expect(await captureCli('shadow', 'report', file)).toMatchObject({ code: 2, stderr: `${file}: the topology has no shadow: section; add one and run it before a report\n` });
});

test('a changed shadow: is switched without a restart, and the live sinks still get each event once', async () => {
  requireBuild();
  const name = uniqueName('it-shadow');
  const topology = (shadowMode: string): string => `name: ${name}
source: { topic: ${name}.events, key: customerId, id: eventId }
mode: cascade
partitions: 3
destinations:
  - { name: ledger, sink: { type: kafka, topic: ${name}.ledger } }
  - { name: notify, sink: { type: kafka, topic: ${name}.notify } }
shadow: { mode: ${shadowMode} }
`;
  const dir = await mkdtemp(join(tmpdir(), 'fy-shadow-'));
  const file = join(dir, 'topology.yaml');
  await writeFile(file, topology('fanout'));
  const before = parseTopology(topology('fanout'), file, {}).plan.shadow!;
  const after = parseTopology(topology('dag'), file, {}).plan.shadow!;
  expect(await captureCli('topics', 'create', file)).toMatchObject({ code: 0, stderr: '' });
  // The dag shadow's input topics, created before the change as a deployment's topics Job would.
  await writeFile(join(dir, 'next.yaml'), topology('dag'));
  expect(await captureCli('topics', 'create', join(dir, 'next.yaml'))).toMatchObject({ code: 0, stderr: '' });
  const source = { topics: [`${name}.events`], format: 'json' as const, keyPath: ['customerId'], idPath: ['eventId'] };
  const first = sampleEvents(source, { count: 20, keys: 4, runId: `${name}-a` });
  const second = sampleEvents(source, { count: 20, keys: 4, runId: `${name}-b` });
  const port = await freePort();
  // Logs (pino, stdout) at info: the switch is logged with both plan ids.
  const child = spawn(process.execPath, [bin, 'run', file], { env: { ...process.env, FLOWYARD_HTTP_PORT: String(port), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const kafka = await testKafka();
  const send = async (records: typeof first.records): Promise<void> => {
    const producer = await kafka.producer();
    await produce(producer, `${name}.events`, records);
    await producer.disconnect();
  };
  const dryRun = `${name}-shadow.dryrun.ledger`;
  const topics = [`${name}.ledger`, `${name}.notify`, dryRun];
  let read = new Map<string, { headers: Readonly<Record<string, string>> }[]>();
  const written = async (count: number): Promise<boolean> => {
    read = await readTopics(kafka, topics, 30_000);
    return topics.every((topic) => countIds(read.get(topic)!).size === count);
  };
  try {
    expect(await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 120_000, 500)).toBe(true);
    await send(first.records);
    expect(await eventually(() => written(20), 120_000, 1_000)).toBe(true);
    await writeFile(file, topology('dag'));
    // Wait for the shadow's switch before sending the second batch.
    const switched = (): boolean => logs.split('\n').some((line) => line.includes('plan switched') && line.includes(`"from":"${before.id}"`) && line.includes(`"to":"${after.id}"`));
    expect(await eventually(switched, 60_000, 500)).toBe(true);
    await send(second.records);
    expect(await eventually(() => written(40), 120_000, 1_000)).toBe(true);
    for (const topic of topics) expect({ topic, repeated: [...countIds(read.get(topic)!).values()].filter((c) => c > 1).length }).toEqual({ topic, repeated: 0 });
    const planOf = (ids: readonly string[]): string[] => [...new Set(read.get(dryRun)!.filter((r) => ids.includes(r.headers[HEADER.eventId]!)).map((r) => r.headers[HEADER.plan]!))];
    expect(planOf(first.eventIds)).toEqual([before.id]);
    expect(planOf(second.eventIds)).toEqual([after.id]);
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  }
});
