/**
 * The Redis side of flowyard's guarantees (docs/architecture.md §7). Keys, all expiring after the
 * topology's `dedup.ttlSeconds`:
 *
 *   fy:{name}:routed:{eventId}        the router routed this event and committed the copies
 *   fy:{name}:seq:{key}               last seq assigned to a causal group (no TTL: seqs only grow)
 *   fy:{name}:seqof:{eventId}         the seq an event got, so a redelivered event keeps it
 *   fy:{name}:done:{dest}:{eventId}   the destination's write succeeded
 *   fy:{name}:epoch                   marks that Redis still holds all of the above (state-guard.ts)
 *
 * When each key is written relative to the offset commit, and what a crash in between does:
 * - `routed` is set AFTER the router's transaction (copies + offsets) committed. A crash
 *   before it re-delivers the batch; the copies go out again and the workers' done-keys stop
 *   a second write. A crash can never mark an event routed whose copies were not committed.
 * - `seqof` is set BEFORE the copies are produced, so a re-delivered event gets the same seq.
 * - `done` is set AFTER the write succeeded and BEFORE the worker commits its offset. A crash
 *   between write and `done` re-delivers the event and writes it again: sinks are idempotent by
 *   event id for that window (docs/architecture.md §7). A crash after `done` only skips the write.
 * - On the transactional path of kafka sinks (src/runtime/kafka-tx-worker.ts) `done` is set
 *   AFTER the transaction holding the copy and the input offset committed, for the whole
 *   batch at once. A crash before it re-reads nothing (the offsets committed with the copies);
 *   the keys only stop an event id that is routed twice as a second input record.
 *
 * All of this assumes Redis keeps what it was told. Each lookup below also reads the epoch
 * key in the same round trip (the MGETs include it, the seq script checks it before it
 * assigns anything); when it is gone the lookup throws StateLostError and the role waits.
 */
import type { Redis } from 'ioredis';
import { StateLostError } from './epoch.js';
import { RedisScript } from '../redis/scripts.js';
import { topologyKeyPrefix } from './keys.js';
import { StateGuard } from './state-guard.js';

/**
 * Lua: for each (eventId, key) pair, return the event's seq, assigning the next one of its
 * group once. The first element is the epoch found; when it is not the expected one
 * (ARGV[3]; '-' when unchecked) nothing is assigned: INCR on an emptied Redis would start
 * every group's seqs again at 1.
 */
const ASSIGN_SEQ = new RedisScript<[prefix: string, ttl: number, expected: string, ...idsAndKeys: string[]], [string | null, ...number[]]>('fyAssignSeqs', `
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local expected = ARGV[3]
local epoch = redis.call('GET', prefix .. ':epoch')
if expected ~= '-' and epoch ~= expected then return { epoch } end
local out = { epoch }
for i = 4, #ARGV, 2 do
  local seqof = prefix .. ':seqof:' .. ARGV[i]
  local seq = redis.call('GET', seqof)
  if not seq then
    seq = redis.call('INCR', prefix .. ':seq:' .. ARGV[i + 1])
    redis.call('SET', seqof, seq, 'EX', ttl)
  end
  out[#out + 1] = tonumber(seq)
end
return out
`, 0);

/** KEYS: the keys to set to '1'; ARGV[1]: their TTL (s). A batch's marks in one command. */
const SET_ALL = new RedisScript<[keyCount: number, ...keysThenTtl: (string | number)[]], number>(
  'fySetAllWithTtl',
  `
for i = 1, #KEYS do redis.call('SET', KEYS[i], '1', 'EX', ARGV[1]) end
return #KEYS
`,
);

export class DedupStore {
  private readonly prefix: string;
  private readonly guard: StateGuard;

  constructor(
    private readonly redis: Redis,
    topologyName: string,
    private readonly ttlSeconds: number,
  ) {
    this.prefix = topologyKeyPrefix(topologyName);
    this.guard = StateGuard.of(redis, topologyName);
  }

  /** Event ids among `eventIds` that were already routed (one round trip). */
  async routed(eventIds: readonly string[]): Promise<Set<string>> {
    return this.present(eventIds.map((id) => `${this.prefix}:routed:${id}`), eventIds);
  }

  async markRouted(eventIds: readonly string[]): Promise<void> {
    await this.setAll(eventIds.map((id) => `${this.prefix}:routed:${id}`));
  }

  /** The seq of each event in its causal group, assigned once per event id (one round trip). */
  async assignSeqs(events: readonly { eventId: string; key: string }[]): Promise<number[]> {
    if (events.length === 0) return [];
    const args = events.flatMap((e) => [e.eventId, e.key]);
    const [epoch, ...seqs] = await ASSIGN_SEQ.run(this.redis, this.prefix, this.ttlSeconds, this.guard.expected ?? '-', ...args);
    this.guard.verify(epoch);
    // A recovery wrote a new epoch between arming and this call: the script assigned nothing; the batch's retry will.
    if (seqs.length !== events.length) throw new StateLostError(this.guard.topology, 'the epoch changed while seqs were assigned; retrying');
    return seqs;
  }

  /** Event ids among `eventIds` whose write to `destination` already succeeded (one round trip). */
  async done(destination: string, eventIds: readonly string[]): Promise<Set<string>> {
    return this.present(eventIds.map((id) => this.doneKey(destination, id)), eventIds);
  }

  async markDone(destination: string, eventId: string): Promise<void> {
    await this.redis.set(this.doneKey(destination, eventId), '1', 'EX', this.ttlSeconds);
  }

  /** Records the writes of a whole batch in one round trip (the transactional kafka path). */
  async markAllDone(destination: string, eventIds: readonly string[]): Promise<void> {
    await this.setAll(eventIds.map((id) => this.doneKey(destination, id)));
  }

  private doneKey(destination: string, eventId: string): string {
    return `${this.prefix}:done:${destination}:${eventId}`;
  }

  /** One MGET: the epoch (when armed) and `keys`. */
  private async present(keys: readonly string[], ids: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    if (this.guard.expected === undefined) {
      const values = await this.redis.mget(...keys);
      return new Set(ids.filter((_, i) => values[i] !== null));
    }
    const [epoch, ...values] = await this.redis.mget(this.guard.key, ...keys);
    this.guard.verify(epoch ?? null);
    return new Set(ids.filter((_, i) => values[i] !== null));
  }

  /** One command (EVALSHA) for the whole batch, not a SET per key. */
  private async setAll(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await SET_ALL.run(this.redis, keys.length, ...keys, this.ttlSeconds);
  }
}
