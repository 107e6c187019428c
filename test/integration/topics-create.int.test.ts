/**
 * `flowyard topics create <file>` on the real broker, through the built bin: creates every
 * topic of the plan and says so; a second run finds them all and changes nothing (exit 0);
 * a topic deleted in between is created again; an existing derived topic with fewer
 * partitions than the plan needs is refused (exit 2) naming the topic and both counts and
 * is left as it is; topics that belong to the user (source, sinks) are used as they are.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Admin } from 'kafkajs';
import { eventually, uniqueName } from '../helpers/servers.js';
import { outsideKafka } from '../helpers/outside-kafka.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function flowyard(...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'bin/flowyard.js'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const PARTITIONS = 3;
let dir: string;
let admin: Admin;

beforeAll(async () => {
  if (!existsSync(join(repo, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run -s build` first');
  dir = mkdtempSync(join(tmpdir(), 'flowyard-topics-'));
  // The broker as an operator's admin tool sees it, not through flowyard.
  admin = outsideKafka('topics-create-test').admin();
  await admin.connect();
});

afterAll(async () => {
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** Partition count per topic, as the broker has them. */
async function partitionCounts(topics: readonly string[]): Promise<Record<string, number>> {
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
  return Object.fromEntries(metadata.map((t) => [t.name, t.partitions.length]));
}

/** Deletes a topic and waits until the broker forgot it (deletion is asynchronous). */
async function deleteTopic(topic: string): Promise<void> {
  await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
  expect(await eventually(async () => !(await admin.listTopics()).includes(topic), 30_000, 200)).toBe(true);
}

/** Creates a topic, retrying while a deletion of the same name is still being finished. */
async function createTopic(topic: string, partitions: number): Promise<void> {
  const created = await eventually(async () => {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    return (await partitionCounts([topic]))[topic] === partitions;
  }, 30_000, 500);
  expect(created).toBe(true);
}

function reported(stdout: string, verb: 'created' | 'exists'): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(`${verb} `))
    .map((line) => line.slice(verb.length).trim())
    .sort();
}

test('creates every plan topic, then finds them (idempotent), recreates a deleted one, refuses too few partitions', async () => {
  const name = uniqueName('it');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      `source: { topic: ${name}.events, key: customerId, id: eventId }`,
      'mode: fanout',
      `partitions: ${PARTITIONS}`,
      'destinations:',
      '  - name: ledger',
      `    sink: { type: kafka, topic: ${name}.ledger-out }`,
      `    compensate: { type: kafka, topic: ${name}.ledger-reversals }`,
      '  - name: notify',
      `    sink: { type: kafka, topic: ${name}.notify-out }`,
      `ordering: { sequencer: { output: ${name}.sequenced } }`,
      '',
    ].join('\n'),
  );
  const expected = [
    `${name}.compensate.ledger`,
    `${name}.completions`,
    `${name}.dlq`,
    `${name}.events`,
    `${name}.fanout.ledger`,
    `${name}.fanout.notify`,
    `${name}.ledger-out`,
    `${name}.ledger-reversals`,
    `${name}.notify-out`,
    `${name}.sequenced`,
  ];
  const planLine = new RegExp(`^plan (${name}@[0-9a-f]{8}): (\\d+) created, (\\d+) already existed$`, 'm');
  expect((await admin.listTopics()).filter((t) => t.startsWith(`${name}.`))).toEqual([]);

  // 1. Nothing exists: every topic is created, with the plan's partition count.
  const first = await flowyard('topics', 'create', file);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(reported(first.stdout, 'created')).toEqual(expected);
  expect(reported(first.stdout, 'exists')).toEqual([]);
  const [, planId, created, existed] = planLine.exec(first.stdout) ?? [];
  expect([created, existed]).toEqual([String(expected.length), '0']);
  expect(await partitionCounts(expected)).toEqual(Object.fromEntries(expected.map((t) => [t, PARTITIONS])));

  // 2. Again: all exist, nothing changes, still exit 0.
  const second = await flowyard('topics', 'create', file);
  expect(second.stderr).toBe('');
  expect(second.code).toBe(0);
  expect(reported(second.stdout, 'created')).toEqual([]);
  expect(reported(second.stdout, 'exists')).toEqual(expected);
  expect(second.stdout).toMatch(new RegExp(`^plan ${planId}: 0 created, ${expected.length} already existed$`, 'm'));

  // 3. One derived topic gone: only it is created.
  await deleteTopic(`${name}.dlq`);
  const third = await flowyard('topics', 'create', file);
  expect(third.code).toBe(0);
  expect(reported(third.stdout, 'created')).toEqual([`${name}.dlq`]);
  expect(reported(third.stdout, 'exists')).toEqual(expected.filter((t) => t !== `${name}.dlq`));
  expect((await partitionCounts([`${name}.dlq`]))[`${name}.dlq`]).toBe(PARTITIONS);

  // 4. A derived topic recreated with fewer partitions: refused, named with both counts, left
  // alone, and nothing else created (the missing DLQ stays missing until the refusal is fixed).
  const shrunk = `${name}.fanout.notify`;
  await deleteTopic(shrunk);
  await createTopic(shrunk, 1);
  await deleteTopic(`${name}.dlq`);
  const fourth = await flowyard('topics', 'create', file);
  expect(fourth.code).toBe(2);
  expect(fourth.stdout).toBe('');
  expect(fourth.stderr.trimEnd().split('\n')).toEqual([
    `topic ${shrunk} has 1 partitions, plan ${planId} needs ${PARTITIONS}: increase it yourself (kafka-topics --alter --partitions ${PARTITIONS}; keys will move partitions) or lower \`partitions\` in the topology; nothing was created`,
  ]);
  expect((await partitionCounts([shrunk]))[shrunk]).toBe(1);
  expect(await admin.listTopics()).not.toContain(`${name}.dlq`);

  // 5. Fixed by hand: the missing topic is created with the replication factor asked for.
  await deleteTopic(shrunk);
  const fifth = await flowyard('topics', 'create', file, '--replication-factor', '1');
  expect(fifth.code).toBe(0);
  expect(reported(fifth.stdout, 'created')).toEqual([`${name}.dlq`, shrunk]);
  const described = await admin.fetchTopicMetadata({ topics: [shrunk] });
  expect(described.topics[0]!.partitions.map((p) => p.replicas.length)).toEqual(Array.from({ length: PARTITIONS }, () => 1));
  const badFactor = await flowyard('topics', 'create', file, '--replication-factor', 'three');
  expect([badFactor.code, badFactor.stderr.trim()]).toEqual([2, '--replication-factor: "three" is not a positive integer']);

  await admin.deleteTopics({ topics: expected, timeout: 30_000 });
});

test("the user's own topics (source, sink, compensation) are used with whatever partitions they have", async () => {
  // A sink topic only receives writes keyed by the causal key: its partition count changes
  // neither order nor parallelism, and `partitions` of a kafka sink is documented as the
  // count given to the topic *if it does not exist*. Refusing it would block a user whose
  // ledger topic has 6 partitions from a topology with `partitions: 12`.
  const name = uniqueName('it');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      `source: { topic: ${name}.events, key: customerId, id: eventId }`,
      'mode: cascade',
      `partitions: ${PARTITIONS}`,
      'destinations:',
      '  - name: ledger',
      `    sink: { type: kafka, topic: ${name}.ledger-out, partitions: 6 }`,
      `    compensate: { type: kafka, topic: ${name}.ledger-reversals }`,
      '',
    ].join('\n'),
  );
  const userTopics = [`${name}.events`, `${name}.ledger-out`, `${name}.ledger-reversals`];
  for (const topic of userTopics) await createTopic(topic, 1);

  const result = await flowyard('topics', 'create', file);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(reported(result.stdout, 'exists')).toEqual(userTopics);
  expect(reported(result.stdout, 'created')).toEqual([`${name}.cascade.ledger`, `${name}.compensate.ledger`, `${name}.completions`, `${name}.dlq`]);
  expect(await partitionCounts(userTopics)).toEqual(Object.fromEntries(userTopics.map((t) => [t, 1])));

  await admin.deleteTopics({ topics: [...userTopics, `${name}.cascade.ledger`, `${name}.compensate.ledger`, `${name}.completions`, `${name}.dlq`], timeout: 30_000 });
});

test('run before topics create exits 1 naming the missing topics and the command that creates them', async () => {
  const name = uniqueName('it');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [`name: ${name}`, `source: { topic: ${name}.events, key: customerId, id: eventId }`, 'mode: fanout', 'destinations:', `  - { name: ledger, sink: { type: kafka, topic: ${name}.out } }`, ''].join('\n'),
  );
  const { code, stderr } = await flowyard('run', file, '--roles', 'worker');
  expect(code).toBe(1);
  expect(stderr).toContain(`flowyard: ${file}: topic(s) ${name}.completions, ${name}.dlq, ${name}.events, ${name}.fanout.ledger, ${name}.out do not exist`);
  expect(stderr).toContain(`flowyard topics create ${file}`);
  expect(stderr).not.toContain('does not host this topic-partition');
  expect(stderr).not.toMatch(/^\s+at /m); // the message says what to do; no stack trace
});
