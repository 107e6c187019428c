/**
 * The sequencer's Redis state across the crash windows of a flush (src/sequencer/store.ts),
 * on the real Redis: a flush whose transaction never committed is not read back; one that
 * committed but was not marked is, once the next owner marks its token.
 */
import { Redis } from 'ioredis';
import { SequencerStore } from '../../../src/sequencer/store.js';
import { testEnv, uniqueName } from '../../helpers/servers.js';

const at = (n: bigint) => ({ nextExpected: n, skipped: [], assumeLateThrough: 0n });

describe('SequencerStore', () => {
  let redis: Redis;
  let store: SequencerStore;
  let name: string;

  beforeAll(() => {
    redis = new Redis(testEnv().redis.url);
  });
  beforeEach(() => {
    name = uniqueName('seqstore');
    store = new SequencerStore(redis, name, 60);
  });
  afterAll(async () => {
    await redis.quit();
  });

  test('an unknown group starts fresh', async () => {
    expect(await store.read(['g'])).toEqual(new Map([['g', at(1n)]]));
  });

  test('a committed flush is read back; the flush after it, written but never committed, is not', async () => {
    await store.write('p.1', new Map([['g', at(5n)], ['h', at(2n)]]));
    await store.markCommitted(['p.1']);
    await store.write('p.2', new Map([['g', at(9n)]])); // the process dies before its transaction commits
    expect(await store.read(['g', 'h'])).toEqual(new Map([['g', at(5n)], ['h', at(2n)]]));

    // The next owner's flushes build on the committed state, not on the aborted one.
    await store.write('q.1', new Map([['g', at(7n)]]));
    expect((await store.read(['g'])).get('g')).toEqual(at(5n)); // q.1 not committed yet
    await store.markCommitted(['q.1']);
    expect((await store.read(['g'])).get('g')).toEqual(at(7n));
    await store.write('q.2', new Map([['g', at(8n)]]));
    expect((await store.read(['g'])).get('g')).toEqual(at(7n));
  });

  test('the first flush of a group that never committed leaves it fresh', async () => {
    await store.write('p.1', new Map([['g', at(3n)]]));
    expect((await store.read(['g'])).get('g')).toEqual(at(1n));
  });

  test('a retried flush keeps its previous snapshot', async () => {
    await store.write('p.1', new Map([['g', at(3n)]]));
    await store.markCommitted(['p.1']);
    await store.write('p.2', new Map([['g', at(4n)]]));
    await store.write('p.2', new Map([['g', at(4n)]])); // the transaction failed once and the flush ran again
    expect((await store.read(['g'])).get('g')).toEqual(at(3n));
    await store.markCommitted(['p.2']);
    expect((await store.read(['g'])).get('g')).toEqual(at(4n));
  });

  test('keys carry the topology hash tag and expire after the dedup TTL', async () => {
    await store.write('p.1', new Map([['g', at(3n)]]));
    await store.markCommitted(['p.1']);
    const ttl = await redis.ttl(`fy:{${name}}:sequencer:group:g`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.ttl(`fy:{${name}}:sequencer:txn:p.1`)).toBeGreaterThan(0);
  });
});
