/**
 * A Redis that loses flowyard's state (a restart without persistence, a FLUSHALL) must not
 * make flowyard route re-sent ids again or write re-delivered events twice: the roles detect
 * the missing epoch key, wait with an error naming the topology and what was lost, /readyz
 * turns unready, and `flowyard state recover` rebuilds the state from the completions topic
 * and lets them resume, still without a second write.
 *
 * Runs on a private redis-server without persistence (the shared one serves other tests),
 * the real broker, and a real HTTP receiver that records every request per Idempotency-Key.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { StateGuard } from '../../../src/dedup/state-guard.js';
import { createLogger } from '../../../src/observability/logger.js';
import { readinessChecks } from '../../../src/runtime/service.js';
import { captureCli } from '../../helpers/cli.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { PrivateRedis, eventually, freePort } from '../../helpers/servers.js';
import { HttpReceiver, answer } from '../sinks/http-receiver.js';

function topology(url: string): string {
  return `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: hook
    sink: { type: http, url: '${url}' }
    concurrency: 8
`;
}

let redis: PrivateRedis;
let admin: Redis;
let receiver: HttpReceiver;
let pipeline: TestPipeline | undefined;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  redis = new PrivateRedis(await freePort());
  await redis.start();
  admin = new Redis(redis.url);
  receiver = new HttpReceiver((_request, response) => answer(response, 200));
});

afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

afterAll(async () => {
  admin.disconnect();
  await receiver.close();
  await redis.stop();
});

/** Distinct Idempotency-Keys (event ids) the receiver answered, and how many requests each got. */
function requestsPerEvent(): Map<string, number> {
  return receiver.countsByKey('/hook');
}

async function runCli(...argv: string[]): ReturnType<typeof captureCli> {
  const saved = process.env.REDIS_URL;
  process.env.REDIS_URL = redis.url;
  try {
    return await captureCli(...argv);
  } finally {
    if (saved === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = saved;
  }
}

test('FLUSHALL while running: roles wait with a named error and unready /readyz, re-sent ids are not routed again, state recover resumes without a second write', async () => {
  const url = `${await receiver.listen()}/hook`;
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  pipeline = await TestPipeline.create(topology(url), { REDIS_URL: redis.url }, logger);
  const p = pipeline;
  const file = join(tmpdir(), `${p.runId}.yaml`);
  writeFileSync(file, p.yaml);
  await p.startWith(['router', 'worker']);

  const first = p.samples(30, 5);
  await p.produce(first.records);
  expect(await eventually(() => p.finished('hook') === 30, 60_000)).toBe(true);

  await admin.flushall();
  // The same ids again (a producer retrying) and new ones: the first batch after the flush sees the loss.
  const second = p.samples(40, 5);
  await p.produce([...first.records, ...second.records.slice(30)]);
  const guard = StateGuard.of(p.shared.redis, p.plan.name);
  expect(await eventually(() => guard.lost !== undefined, 60_000)).toBe(true);

  const error = logs.find((line) => line.level === 'error' && typeof line.msg === 'string' && line.msg.includes("Redis lost flowyard's state"));
  expect(error).toMatchObject({ topology: p.plan.name, recovery: 'flowyard state recover <topology file>' });
  expect(error!.lostKeyFamilies).toEqual(expect.arrayContaining([expect.stringMatching(/^done/), expect.stringMatching(/^routed/)]));
  const state = readinessChecks(p.shared.kafka, p.shared.redis).find((check) => check.name === 'redis-state')!;
  await expect(state.check()).rejects.toThrow(`Redis lost the state of topology ${p.plan.name}`);
  const status = await runCli('state', 'status', file);
  expect(status).toMatchObject({ code: 1, stderr: expect.stringContaining(`topology ${p.plan.name}: Redis LOST its state`) });

  const recovered = await runCli('state', 'recover', file);
  expect(recovered.code).toBe(0);
  expect(recovered.stdout).toMatch(/rebuilt from .*completions.*: 30 records, 30 events, 30 done-keys/);
  expect(recovered.stdout).toContain('new epoch');

  const newIds = second.eventIds.slice(30);
  expect(await eventually(() => newIds.every((id) => requestsPerEvent().has(id)), 60_000)).toBe(true);
  expect(await eventually(() => guard.lost === undefined, 10_000)).toBe(true);
  await expect(state.check()).resolves.toBeUndefined();
  // Every event once: the re-sent 30 were recognised as routed from the rebuilt state.
  const doubled = [...requestsPerEvent()].filter(([, count]) => count > 1);
  expect(doubled).toEqual([]);
  expect(requestsPerEvent().size).toBe(40);
  expect(logs.some((line) => line.msg === 'Redis state re-armed (flowyard state recover ran): roles resume')).toBe(true);
});

test('Redis restarted empty while the pipeline is idle: the reconnect alone shows the loss; a first run on an empty Redis is not one', async () => {
  await admin.flushall();
  // Only the router runs: the destination is never called.
  pipeline = await TestPipeline.create(topology('http://127.0.0.1:9/hook'), { REDIS_URL: redis.url }, createLogger('warn', { write: () => true }));
  const p = pipeline;
  await p.startWith(['router']);
  const guard = StateGuard.of(p.shared.redis, p.plan.name);
  // First run: no committed router offsets, so the empty Redis gets an epoch, not an alarm.
  expect(guard.lost).toBeUndefined();
  expect(await admin.get(guard.key)).toEqual(guard.expected);

  const events = p.samples(5, 2);
  await p.produce(events.records);
  // Routed marks follow the transaction that routes the events and commits the router's offsets.
  expect(await eventually(async () => (await admin.exists(...events.eventIds.map((id) => `fy:{${p.plan.name}}:routed:${id}`))) === 5, 60_000)).toBe(true);

  await redis.stop();
  await redis.start();
  expect(await eventually(() => guard.lost !== undefined, 30_000)).toBe(true);
  expect(guard.lost).toContain('disappeared from Redis while running');
});
