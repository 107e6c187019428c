/**
 * Rebuilds a topology's Redis state from its completions topic, for `flowyard state
 * recover` after Redis lost it (see epoch.ts). Every event a worker finished left a
 * completion record carrying its event id, key, seq and destination, so within the dedup
 * TTL Kafka still knows what Redis forgot:
 *
 *   any completion             routed:{eventId}, seqof:{eventId} = seq, seq:{key} >= seq
 *   destination ok             done:{dest}:{eventId}; track w:/t: (and r: for a join)
 *   compensation ok            done:{dest}.compensate:{eventId}; track c:, e:
 *   event verdict              track o
 *
 * Writes never lower or replace what Redis holds (SET NX, HSETNX, seq only raised), so a
 * recovery over state that was not lost changes nothing. Not rebuilt: routed marks of events
 * no worker has reported yet (a re-sent copy of one is routed again; the workers' done-keys
 * stop its writes once the first copy's write is recorded), the in-flight marks of live plan
 * switches, and the sequencer's snapshots (a key without one starts over: see README).
 */
import type { Redis } from 'ioredis';
import type { KafkaPort } from '../kafka/port.js';
import { topicRange } from '../kafka/range-reader.js';
import { parseCompletionsRecord, type CompletionsRecord } from '../runtime/completion.js';
import type { Plan } from '../topology/plan.js';
import { RedisScript } from '../redis/scripts.js';
import { topologyKeyPrefix } from './keys.js';

/** What a set of completions records says Redis held, by key. */
export interface RebuiltState {
  /** seq per event id (also: the event was routed). */
  readonly seqOf: Map<string, number>;
  /** Highest seq seen per causal key. */
  readonly seqMax: Map<string, number>;
  /** `<done name>` -> event ids whose write (or compensation) succeeded. */
  readonly done: Map<string, Set<string>>;
  /** Tracker hash fields per event id. */
  readonly track: Map<string, Map<string, string>>;
}

export function emptyState(): RebuiltState {
  return { seqOf: new Map(), seqMax: new Map(), done: new Map(), track: new Map() };
}

/** Adds what `record` proves to `state` (pure). `joins`: destinations the tracker releases. */
export function collectState(state: RebuiltState, record: CompletionsRecord, joins: ReadonlySet<string>): void {
  state.seqOf.set(record.eventId, record.seq);
  state.seqMax.set(record.key, Math.max(state.seqMax.get(record.key) ?? 0, record.seq));
  const fields = state.track.get(record.eventId) ?? new Map<string, string>();
  state.track.set(record.eventId, fields);
  if (record.kind === 'event') {
    fields.set('o', record.status);
    return;
  }
  const { destination } = record;
  if (record.kind === 'destination') {
    fields.set(`w:${destination}`, record.status).set(`t:${destination}`, String(record.at));
    if (joins.has(destination)) fields.set(`r:${destination}`, '1');
  } else {
    fields.set(`c:${destination}`, record.status).set(`e:${destination}`, '1');
  }
  if (record.status !== 'ok') return;
  const doneName = record.kind === 'compensation' ? `${destination}.compensate` : destination;
  const ids = state.done.get(doneName) ?? new Set<string>();
  state.done.set(doneName, ids.add(record.eventId));
}

/** KEYS[1]: a group's seq counter; ARGV[1]: a seq it must not be below. */
const RAISE_SEQ = new RedisScript<[counter: string, seq: number], number>('fyRaiseSeq', `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
`, 1);

/** Writes `state` to Redis without lowering or replacing anything there. */
export async function writeState(redis: Redis, plan: Plan, state: RebuiltState): Promise<void> {
  const prefix = topologyKeyPrefix(plan.name);
  const ttl = plan.dedup.ttlSeconds;
  RAISE_SEQ.define(redis); // before the pipeline: ioredis copies defined commands into it when it is made
  const pipeline = redis.pipeline();
  for (const [eventId, seq] of state.seqOf) {
    pipeline.set(`${prefix}:routed:${eventId}`, '1', 'EX', ttl);
    pipeline.set(`${prefix}:seqof:${eventId}`, String(seq), 'EX', ttl, 'NX');
  }
  for (const [key, seq] of state.seqMax) RAISE_SEQ.queue(pipeline, `${prefix}:seq:${key}`, seq);
  for (const [doneName, ids] of state.done) for (const id of ids) pipeline.set(`${prefix}:done:${doneName}:${id}`, '1', 'EX', ttl);
  for (const [eventId, fields] of state.track) {
    const key = `${prefix}:track:${eventId}`;
    for (const [field, value] of fields) pipeline.hsetnx(key, field, value);
    pipeline.expire(key, ttl);
  }
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error !== null);
  if (failed) throw failed[0];
}

export interface RebuildSummary {
  readonly records: number;
  readonly events: number;
  readonly doneKeys: number;
}

/**
 * Reads `plan.completionsTopic` from `since` (ms since epoch) to its end now and writes what
 * it proves to Redis, a Kafka batch at a time.
 */
export async function rebuildFromCompletions(plan: Plan, clients: { kafka: KafkaPort; redis: Redis }, since: number): Promise<RebuildSummary> {
  const range = await topicRange(clients.kafka, plan.completionsTopic, since);
  if (range === undefined) return { records: 0, events: 0, doneKeys: 0 };
  const joins = new Set(plan.destinations.filter((d) => d.releasedBy === 'tracker').map((d) => d.name));
  const events = new Set<string>();
  let records = 0;
  let doneKeys = 0;
  await clients.kafka.readRange(
    plan.completionsTopic,
    range,
    async (batch) => {
      const state = emptyState();
      for (const record of batch) {
        const parsed = parseCompletionsRecord(record);
        if (parsed === undefined) continue;
        records += 1;
        events.add(parsed.eventId);
        collectState(state, parsed, joins);
      }
      for (const ids of state.done.values()) doneKeys += ids.size;
      await writeState(clients.redis, plan, state);
    },
    { purpose: 'flowyard-state-recover' },
  );
  return { records, events: events.size, doneKeys };
}
