/**
 * The sequencer's state in Redis, all expiring after the topology's `dedup.ttlSeconds`:
 *
 *   fy:{name}:sequencer:group:{key}   hash: t (flush token), s (snapshot), p (previous snapshot)
 *   fy:{name}:sequencer:txn:{token}   the flush `token` committed its Kafka transaction
 *
 * A flush writes the snapshots of the groups it changed BEFORE its Kafka transaction (outputs,
 * dead letters and input offsets) commits, and marks the token committed AFTER. Reading a
 * group back takes `s` when its token is marked, `p` otherwise; `p` is always the snapshot of
 * the last committed flush, because writing `s` again first promotes the stored `s` to `p`
 * only if its token is marked. So Redis never gets ahead of Kafka:
 * - crash before the transaction commits: the transaction aborts (output and offsets are not
 *   visible), the token has no mark, `p` is read back: the state matching the offsets;
 * - crash between the commit and the mark: the transaction put `token` into the committed
 *   offsets' metadata of every partition it touched; the next owner marks that token
 *   (`markCommitted` at assignment) before it reads any group of the partition. Only the
 *   newest committed flush of a partition can lack its mark: the process that ran it died.
 */
import type { Redis } from 'ioredis';
import type { GroupSnapshot } from './buffer.js';
import { chooseSnapshot, encodeSnapshot, type StoredGroup } from './progress.js';
import { topologyKeyPrefix } from '../dedup/keys.js';
import { RedisScript } from '../redis/scripts.js';
import { StateLostError } from '../dedup/epoch.js';
import { StateGuard } from '../dedup/state-guard.js';

/**
 * KEYS: the epoch key, then group hashes; ARGV: ttl, token, marker prefix, expected epoch
 * ('-' when unchecked), then one encoded snapshot per group. Returns the epoch found; writes
 * nothing when it is not the expected one.
 */
const WRITE_SNAPSHOTS = new RedisScript<[keyCount: number, ...keysThenArgs: (string | number)[]], [string | null]>('fySequencerWriteSnapshots', `
local ttl = tonumber(ARGV[1])
local token = ARGV[2]
local markers = ARGV[3]
local epoch = redis.call('GET', KEYS[1])
if ARGV[4] ~= '-' and epoch ~= ARGV[4] then return { epoch } end
for i = 2, #KEYS do
  local old = redis.call('HMGET', KEYS[i], 't', 's', 'p')
  local previous = old[3]
  if old[1] and old[1] ~= token and redis.call('EXISTS', markers .. old[1]) == 1 then previous = old[2] end
  redis.call('DEL', KEYS[i])
  if previous then
    redis.call('HSET', KEYS[i], 't', token, 's', ARGV[3 + i], 'p', previous)
  else
    redis.call('HSET', KEYS[i], 't', token, 's', ARGV[3 + i])
  end
  redis.call('EXPIRE', KEYS[i], ttl)
end
return { epoch }
`);

export class SequencerStore {
  private readonly prefix: string;
  private readonly guard: StateGuard;

  constructor(
    private readonly redis: Redis,
    topologyName: string,
    private readonly ttlSeconds: number,
  ) {
    this.prefix = `${topologyKeyPrefix(topologyName)}:sequencer`;
    this.guard = StateGuard.of(redis, topologyName);
  }

  /** Each group's snapshot as of the last committed flush (two round trips); StateLostError when Redis lost the state. */
  async read(groups: readonly string[]): Promise<Map<string, GroupSnapshot>> {
    const result = new Map<string, GroupSnapshot>();
    if (groups.length === 0) return result;
    const read = this.redis.pipeline();
    read.get(this.guard.key);
    for (const group of groups) read.hmget(this.groupKey(group), 't', 's', 'p');
    const [epoch, ...rows] = unwrap(await read.exec()) as [string | null, ...(string | null)[][]];
    this.guard.verify(epoch);
    const stored = rows.map(([token, snapshot, previous]): StoredGroup | undefined =>
      token && snapshot ? { token, snapshot, ...(previous && { previous }) } : undefined,
    );
    const tokens = [...new Set(stored.flatMap((s) => (s ? [s.token] : [])))];
    const marked = new Set<string>();
    if (tokens.length > 0) {
      const check = this.redis.pipeline();
      for (const token of tokens) check.exists(this.markerKey(token));
      const found = unwrap(await check.exec()) as number[];
      tokens.forEach((token, i) => found[i] === 1 && marked.add(token));
    }
    groups.forEach((group, i) => result.set(group, chooseSnapshot(stored[i], (token) => marked.has(token))));
    return result;
  }

  /** Stores the groups' snapshots as written by flush `token` (not yet committed). Idempotent for one token. */
  async write(token: string, snapshots: ReadonlyMap<string, GroupSnapshot>): Promise<void> {
    if (snapshots.size === 0) return;
    const keys = [this.guard.key, ...[...snapshots.keys()].map((group) => this.groupKey(group))];
    const values = [...snapshots.values()].map(encodeSnapshot);
    const expected = this.guard.expected ?? '-';
    const [epoch] = await WRITE_SNAPSHOTS.run(this.redis, keys.length, ...keys, this.ttlSeconds, token, `${this.prefix}:txn:`, expected, ...values);
    this.guard.verify(epoch);
    // A recovery wrote a new epoch meanwhile: nothing was written; the flush's retry writes it.
    if (expected !== '-' && epoch !== expected) throw new StateLostError(this.guard.topology, 'the epoch changed while snapshots were written; retrying');
  }

  /** Flush `token`'s transaction committed. */
  async markCommitted(tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const token of tokens) pipeline.set(this.markerKey(token), '1', 'EX', this.ttlSeconds);
    unwrap(await pipeline.exec());
  }

  private groupKey(group: string): string {
    return `${this.prefix}:group:${group}`;
  }

  private markerKey(token: string): string {
    return `${this.prefix}:txn:${token}`;
  }
}

function unwrap(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('redis pipeline was discarded');
  const failed = results.find(([error]) => error !== null);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}
