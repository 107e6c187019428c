/**
 * What `make run` runs: `flowyard demo topologies/orders-demo.yaml`, in-process, on the real
 * Kafka, Redis and PostgreSQL, with the example renamed so its topics, groups and keys are
 * this test's own and the webhook receiver on a free port. Every event must be read back,
 * once, from each real place: ledger rows in PostgreSQL, cache hashes in Redis, requests the
 * demo's receiver got (by Idempotency-Key), records on the archive topic (a join the tracker
 * releases); the malformed event reaches the DLQ. The test checks PostgreSQL, Redis and the
 * archive topic itself, not only the demo's own read-back.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runDemo } from '../../../src/cli/commands/demo.js';
import { createRedis } from '../../../src/redis/connection.js';
import type { KafkaSinkConfig } from '../../../src/sinks/kafka/config.js';
import type { PostgresSinkConfig } from '../../../src/sinks/postgres/config.js';
import type { RedisSinkConfig } from '../../../src/sinks/redis/config.js';
import { parseTopology } from '../../../src/topology/load.js';
import { readToHighWatermark } from '../../helpers/read-topic.js';
import { freePort, testEnv, testKafka, testLogger, uniqueName } from '../../helpers/servers.js';

const example = fileURLToPath(new URL('../../../topologies/orders-demo.yaml', import.meta.url));

/** Every record on `topic` (this test's own) as `fy-event-id`s, read from the start to its end: the demo has finished writing it. */
async function eventIdsOn(topic: string): Promise<string[]> {
  return (await readToHighWatermark(await testKafka('demo-test'), [topic])).map((record) => record.headers['fy-event-id'] ?? '');
}

test('the demo writes every event once to the PostgreSQL ledger, the Redis cache, the webhook and the archive topic, and reads them back', async () => {
  const name = uniqueName('demo');
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-demo-'));
  const file = join(dir, 'orders-demo.yaml');
  writeFileSync(file, readFileSync(example, 'utf8').replaceAll('orders-demo', name));
  const port = await freePort();
  const previousPort = process.env.DEMO_WEBHOOK_PORT;
  process.env.DEMO_WEBHOOK_PORT = String(port);
  const { plan } = parseTopology(readFileSync(file, 'utf8'), file, process.env);
  const ledger = plan.destinations.find((d) => d.name === 'ledger')!.sink as PostgresSinkConfig;
  const cache = plan.destinations.find((d) => d.name === 'cache')!.sink as RedisSinkConfig;
  const archive = plan.destinations.find((d) => d.name === 'archive')!.sink as KafkaSinkConfig;
  const lines: string[] = [];
  const pool = new pg.Pool({ connectionString: ledger.url!, max: 2 });
  const redis = createRedis(testEnv().redis, testLogger(), 'demo-test');
  try {
    const result = await runDemo(file, { events: 40, keys: 8, timeout: 150 }, (line = '') => lines.push(line));
    const output = lines.join('\n');
    expect({ finished: result.finished, output }).toEqual({ finished: true, output: expect.stringContaining('done after') });
    expect(result.eventIds).toHaveLength(40);
    const ids = [...result.eventIds].sort();

    // The demo's own read-back: every destination, every event, once.
    expect(result.destinations.map((d) => [d.name, d.sinkType, d.ok, d.failed, d.readBack.received, d.readBack.duplicates])).toEqual([
      ['ledger', 'postgres', 40, 0, 40, 0],
      ['cache', 'redis', 40, 0, 40, 0],
      ['webhook', 'http', 40, 0, 40, 0],
      ['archive', 'kafka', 40, 0, 40, 0],
    ]);
    for (const destination of ['ledger', 'cache', 'webhook', 'archive']) expect(output).toMatch(new RegExp(`^${destination}: 40 of 40 events in `, 'm'));
    expect(output).toMatch(/Idempotency-Key: \S+-\d+ traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-01 \{/);
    expect(result.deadLetters.map((d) => [d.headers['fy-error-class'], d.headers['fy-destination']])).toEqual([['invalid', 'router']]);

    // PostgreSQL: one row per event, with the mapped columns.
    const rows = await pool.query<{ event_id: string; customer_id: string; currency: string }>(`SELECT event_id, customer_id, currency FROM ${ledger.table} WHERE event_id = ANY($1::text[])`, [ids]);
    expect(rows.rows.map((r) => r.event_id).sort()).toEqual(ids);
    expect(rows.rows.every((r) => r.customer_id.startsWith('customer-') && r.currency === 'EUR')).toBe(true);

    // Redis: one hash per event holding its payload fields.
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(`${cache.keyPrefix!}${id}`)));
    expect(hashes.map((h) => h.eventId).sort()).toEqual(ids);

    // The archive topic: the join released each event once, after cache and webhook.
    expect((await eventIdsOn(archive.topic)).sort()).toEqual(ids);
  } finally {
    if (previousPort === undefined) delete process.env.DEMO_WEBHOOK_PORT;
    else process.env.DEMO_WEBHOOK_PORT = previousPort;
    await pool.end();
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
});
