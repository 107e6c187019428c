/**
 * Proves that the transactional path of `kafka` sinks is exactly-once without Redis: a real
 * `flowyard run --roles worker` process writing a kafka sink is killed with SIGKILL in the
 * middle of its transactions and restarted, once with the shared Redis intact and once after
 * a FLUSHALL of a private redis-server wiped every done-key and routed mark (recovered with
 * `flowyard state recover --no-rebuild`: a new epoch, nothing rebuilt); a read_committed
 * reader of the sink topic then sees every event exactly once, per key in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HEADER } from '../../../src/runtime/headers.js';
import { spawnCli } from '../../helpers/cli.js';
import { eventually, freePort, PrivateRedis } from '../../helpers/servers.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { exactlyOnce, readCommitted } from '../../helpers/read-committed.js';

const bin = fileURLToPath(new URL('../../../bin/flowyard.js', import.meta.url));

function startWorker(file: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [bin, 'run', file, '--roles', 'worker'], {
    env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function kill(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** Runs router (here) and a worker process; kills the worker mid-stream, calls `between` with the topology file, restarts it; checks the sink topic. */
async function killAndRestart(redisUrl: string | undefined, between: (file: string) => Promise<void>): Promise<void> {
  const env: Record<string, string> = redisUrl === undefined ? {} : { REDIS_URL: redisUrl };
  const pipeline = await TestPipeline.create(
    `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
`,
    env,
  );
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-kafka-tx-crash-'));
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, pipeline.yaml);
  const sinkTopic = `${pipeline.runId}.ledger`;
  const seen = new Set<string>();
  const tail = await pipeline.shared.kafka.tail([sinkTopic], (record) => seen.add(record.headers[HEADER.eventId] ?? ''));
  let worker: ChildProcess | undefined;
  try {
    await pipeline.startWith(['router']);
    const { records, eventIds } = pipeline.samples(8000, 300);
    worker = startWorker(file, env);
    // Input keeps arriving while the worker is killed (its transactions are open mid-stream),
    // and the last part only after: killed with work left to do, however fast it writes (one
    // shared transaction per member can carry every partition's batch in hand).
    const [streamed, held] = [records.slice(0, 6000), records.slice(6000)];
    const streaming = (async () => {
      for (let i = 0; i < streamed.length; i += 250) await pipeline.produce(streamed.slice(i, i + 250));
    })();
    expect(await eventually(() => seen.size >= 1500, 120_000, 10)).toBe(true);
    await kill(worker, 'SIGKILL');
    await streaming;
    await pipeline.produce(held);
    await between(file);

    worker = startWorker(file, env);
    expect(await eventually(() => seen.size >= eventIds.length, 180_000, 200)).toBe(true);
    await kill(worker, 'SIGTERM');
    await pipeline.stopRoles();
    // Everything is decided now: what the killed worker left open was aborted by the restart's producers (a producer per partition, kafkajs) or by the broker at the transaction timeout (a producer per member: a new transactional id).
    const written = await readCommitted(pipeline.shared.kafka, sinkTopic);
    expect(exactlyOnce(written, eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
  } finally {
    await kill(worker, 'SIGTERM');
    await tail.stop();
    await pipeline.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('SIGKILL of a worker process mid-transaction, then a restart: the kafka sink holds every event once (read_committed)', () => killAndRestart(undefined, async () => undefined));

test('Redis FLUSHALL (private redis-server) while the worker is down, then a restart: still every event once in the kafka sink', async () => {
  const redis = new PrivateRedis(await freePort());
  await redis.start();
  try {
    await killAndRestart(redis.url, async (file) => {
      const { Redis } = await import('ioredis');
      const client = new Redis(redis.url);
      try {
        expect(await client.flushall()).toBe('OK');
      } finally {
        client.disconnect();
      }
      // flowyard's roles wait on a Redis that lost its state until an operator recovers it; without
      // a rebuild no done-key comes back, so the restarted worker re-reads its uncommitted
      // batches with nothing in Redis to stop a second write: only the transactions can.
      const recovered = await spawnCli(['state', 'recover', file, '--no-rebuild'], { REDIS_URL: redis.url }, 120_000);
      expect({ code: recovered.code, stderr: recovered.stderr }).toEqual({ code: 0, stderr: '' });
    });
  } finally {
    await redis.stop();
  }
});
