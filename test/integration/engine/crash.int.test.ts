/**
 * Proves that `kill -9` of a worker process in the middle of its work loses nothing and
 * writes nothing twice: the worker runs as a real `flowyard run --roles worker` process
 * writing to a Redis stream sink, is killed while writes are in flight, and is restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../../helpers/servers.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { planGroups, untilDrained } from '../../helpers/read-topic.js';

const bin = fileURLToPath(new URL('../../../bin/flowyard.js', import.meta.url));

function startWorker(file: string): ChildProcess {
  return spawn(process.execPath, [bin, 'run', file, '--roles', 'worker'], {
    env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

test('kill -9 of a worker mid-batch, then a restart: nothing lost, nothing written twice', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: store
    sink: { type: redis, mode: stream, stream: 'it:{name}:stream' }
    concurrency: 16
`);
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-crash-'));
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, pipeline.yaml);
  const stream = `it:${pipeline.runId}:stream`;
  const { redis } = pipeline.shared;
  let worker: ChildProcess | undefined;
  try {
    await pipeline.start(['router']);
    const { records, eventIds } = pipeline.samples(6000, 300);
    worker = startWorker(file);
    await pipeline.produce(records);
    expect(await eventually(async () => (await redis.xlen(stream)) >= 1500, 60_000, 20)).toBe(true);
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker!.once('exit', resolve));
    const atKill = await redis.xlen(stream);
    expect(atKill).toBeLessThan(eventIds.length); // killed with work left to do

    worker = startWorker(file);
    expect(await eventually(async () => (await redis.xlen(stream)) >= eventIds.length, 120_000, 200)).toBe(true);
    await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router', 'worker'])); // a re-delivered duplicate would be there now
    const entries = await redis.xrange(stream, '-', '+');
    const written = entries.map(([, fields]) => fields[fields.indexOf('eventId') + 1]!);
    const counts = new Map<string, number>();
    for (const id of written) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(eventIds.filter((id) => !counts.has(id))).toEqual([]); // nothing lost
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]); // nothing written twice
  } finally {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker!.once('exit', resolve));
    }
    await redis.del(stream);
    await pipeline.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
