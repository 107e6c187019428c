/**
 * flowyard's Lua scripts run as EVALSHA: the text goes over a connection once (EVAL), every
 * later call names the cached script by its SHA1; and a batch's done-keys are one command,
 * not a SET per event. Counted by the server itself (INFO commandstats) on a private
 * redis-server, so no other test's commands mix in.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { DedupStore } from '../../../src/dedup/store.js';
import { InFlightKeys } from '../../../src/dedup/in-flight.js';
import { emptyState, writeState } from '../../../src/dedup/rebuild.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createRedis } from '../../../src/redis/connection.js';
import { SequencerStore } from '../../../src/sequencer/store.js';
import type { GroupSnapshot } from '../../../src/sequencer/buffer.js';
import { parseTopology } from '../../../src/topology/load.js';
import { PrivateRedis, freePort } from '../../helpers/servers.js';

let server: PrivateRedis;
let admin: Redis;
let redis: Redis;

beforeAll(async () => {
  server = new PrivateRedis(await freePort());
  await server.start();
  admin = new Redis(server.url);
  redis = createRedis({ url: server.url }, createLogger('silent'), 'scripts-test');
  await redis.connect();
});

afterAll(async () => {
  redis.disconnect();
  admin.disconnect();
  await server.stop();
});

/** calls per command name, from INFO commandstats. */
async function commandCalls(): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

async function delta(step: () => Promise<unknown>): Promise<(name: string) => number> {
  const before = await commandCalls();
  await step();
  const after = await commandCalls();
  return (name) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
}

test('every flowyard script runs as EVALSHA after its first call on a connection; a batch of done-keys is one command', async () => {
  const ids = Array.from({ length: 200 }, (_, i) => `e-${i}`);
  const events = ids.slice(0, 5).map((eventId, i) => ({ eventId, key: `k-${i % 2}` }));
  const dedup = new DedupStore(redis, 'scripts', 3_600);
  const inFlight = new InFlightKeys(redis, 'scripts', 3_600);
  const sequencer = new SequencerStore(redis, 'scripts', 3_600);
  const { plan } = parseTopology(
    "name: scripts\nsource: { topic: scripts.events, key: customerId, id: eventId }\nmode: fanout\ndestinations:\n  - name: a\n    sink: { type: http, url: 'http://127.0.0.1:9/' }\n",
    'scripts.yaml',
    {},
  );
  const rebuilt = emptyState();
  rebuilt.seqMax.set('k-0', 7);
  const snapshot: GroupSnapshot = { nextExpected: 2n, skipped: [], assumeLateThrough: 0n };
  const everyScript = async () => {
    await dedup.assignSeqs(events);
    await dedup.markAllDone('a', ids);
    await dedup.markRouted(ids);
    await inFlight.add('p1', events);
    await inFlight.settle('p1', events);
    await sequencer.write('token-1', new Map([['k-0', snapshot]]));
    await writeState(redis, plan, rebuilt);
  };

  const first = await delta(everyScript);
  // Six scripts (seqs, set-all, in-flight add and settle, sequencer snapshots, raise-seq): each sent as text once.
  expect(first('eval')).toBe(6);
  expect(first('evalsha')).toBe(1); // markRouted: the set-all script a second time
  const again = await delta(everyScript);
  expect(again('eval')).toBe(0);
  expect(again('evalsha')).toBe(7);

  const marks = await delta(() => dedup.markAllDone('a', ids));
  expect(marks('evalsha')).toBe(1);
  expect(marks('eval')).toBe(0);
  expect(marks('mset') + marks('exec') + marks('multi')).toBe(0);
  const ttls = await Promise.all(ids.map((id) => admin.ttl(`fy:{scripts}:done:a:${id}`)));
  expect(ttls.every((ttl) => ttl > 0 && ttl <= 3_600)).toBe(true);
  expect(await dedup.done('a', ids)).toEqual(new Set(ids));

  // The server holds each script under the SHA1 the clients call it by.
  const shas = Object.values(redis.scriptsSet as Record<string, { lua: string }>).map(({ lua }) => createHash('sha1').update(lua).digest('hex'));
  expect(shas).toHaveLength(6);
  expect(await admin.script('EXISTS', ...shas)).toEqual(shas.map(() => 1));
});

test('a script first run on a client while an auto-pipelined batch is pending still runs', async () => {
  const fresh = createRedis({ url: server.url }, createLogger('silent'), 'scripts-test-fresh');
  await fresh.connect();
  try {
    const dedup = new DedupStore(fresh, 'scripts-fresh', 3_600);
    // Commands in flight and queued behind them: the client's pending pipeline exists before the script is defined.
    const pending = Array.from({ length: 50 }, (_, i) => fresh.get(`fy:{scripts-fresh}:nothing:${i}`));
    await Promise.all([dedup.markAllDone('a', ['e-1', 'e-2']), ...pending]);
    expect(await dedup.done('a', ['e-1', 'e-2', 'e-3'])).toEqual(new Set(['e-1', 'e-2']));
  } finally {
    fresh.disconnect();
  }
});
