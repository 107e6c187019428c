/**
 * Which causal keys have events in flight in which plan, so a key moves to another plan
 * (a live mode switch, a rollout step) only when nothing of it is in flight in the plan it
 * leaves: its events then reach every `ordering: key` destination in source order even
 * though the two plans use different topics.
 *
 *   fy:{name}:inflight:{planId}:{key}    set of event ids routed in that plan, not yet decided
 *   fy:{name}:inflight-keys:{planId}     set of keys with such events
 *
 * The router adds an event before its copies are produced; the tracker removes it once it
 * emitted the event's verdict. Both steps are idempotent, so redeliveries do no harm. All
 * keys expire after the dedup TTL, which bounds what an event that is never decided holds.
 */
import type { Redis } from 'ioredis';
import { RedisScript } from '../redis/scripts.js';
import { topologyKeyPrefix } from './keys.js';

/** ARGV: prefix, plan id, ttl (s), then key, event id pairs. */
const ADD = new RedisScript<[prefix: string, plan: string, ttl: number, ...keysAndIds: string[]], number>('fyInFlightAdd', `
local prefix = ARGV[1]
local plan = ARGV[2]
local ttl = tonumber(ARGV[3])
local keys = prefix .. ':inflight-keys:' .. plan
for i = 4, #ARGV, 2 do
  local events = prefix .. ':inflight:' .. plan .. ':' .. ARGV[i]
  redis.call('SADD', events, ARGV[i + 1])
  redis.call('EXPIRE', events, ttl)
  redis.call('SADD', keys, ARGV[i])
end
redis.call('EXPIRE', keys, ttl)
return 0
`, 0);

/** ARGV: prefix, plan id, then key, event id pairs. */
const SETTLE = new RedisScript<[prefix: string, plan: string, ...keysAndIds: string[]], number>('fyInFlightSettle', `
local prefix = ARGV[1]
local plan = ARGV[2]
local keys = prefix .. ':inflight-keys:' .. plan
for i = 3, #ARGV, 2 do
  local events = prefix .. ':inflight:' .. plan .. ':' .. ARGV[i]
  redis.call('SREM', events, ARGV[i + 1])
  if redis.call('SCARD', events) == 0 then redis.call('SREM', keys, ARGV[i]) end
end
return 0
`, 0);

export interface KeyedEvent {
  readonly key: string;
  readonly eventId: string;
}

export class InFlightKeys {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    topologyName: string,
    private readonly ttlSeconds: number,
  ) {
    this.prefix = topologyKeyPrefix(topologyName);
  }

  async add(planId: string, events: readonly KeyedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await ADD.run(this.redis, this.prefix, planId, this.ttlSeconds, ...events.flatMap((e) => [e.key, e.eventId]));
  }

  async settle(planId: string, events: readonly KeyedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await SETTLE.run(this.redis, this.prefix, planId, ...events.flatMap((e) => [e.key, e.eventId]));
  }

  /** The keys among `keys` that have an event in flight in `planId` (one round trip). */
  async busy(planId: string, keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const member = (await this.redis.smismember(`${this.prefix}:inflight-keys:${planId}`, ...keys)) as number[];
    return new Set(keys.filter((_, i) => member[i] === 1));
  }

  /** How many keys have an event in flight in `planId`. */
  async keysInFlight(planId: string): Promise<number> {
    return this.redis.scard(`${this.prefix}:inflight-keys:${planId}`);
  }
}
