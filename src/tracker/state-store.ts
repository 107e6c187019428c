/**
 * The tracker's per-event state in Redis: one hash per event, expiring with the topology's
 * dedup TTL (the window in which a redelivered event could still report).
 *
 *   fy:{name}:track:{eventId}
 *     w:<dest>  ok|failed   the destination's write outcome
 *     t:<dest>  ms          when it reported (branch spread)
 *     c:<dest>  ok|failed   its compensation's outcome
 *     r:<dest>  1           join node released
 *     e:<dest>  1           compensation emitted
 *     o         completed|failed   verdict emitted
 *
 * Outcomes are written before the tracker decides; the emitted marks (r, e, o) only after
 * what they mark was produced, so a crash in between repeats an emission and loses none.
 */
import type { Redis } from 'ioredis';
import type { Completion } from '../runtime/completion.js';
import type { EventState, Status } from './decide.js';
import { topologyKeyPrefix } from '../dedup/keys.js';
import { StateGuard } from '../dedup/state-guard.js';

export interface TrackedEvent extends EventState {
  /** When each destination reported its write, ms since epoch. */
  readonly reportedAt: ReadonlyMap<string, number>;
}

export interface Emitted {
  readonly released: readonly string[];
  readonly compensating: readonly string[];
  readonly outcome?: 'completed' | 'failed';
}

export class TrackerStateStore {
  private readonly prefix: string;
  private readonly guard: StateGuard;

  constructor(
    private readonly redis: Redis,
    topologyName: string,
    private readonly ttlSeconds: number,
  ) {
    this.prefix = `${topologyKeyPrefix(topologyName)}:track:`;
    this.guard = StateGuard.of(redis, topologyName);
  }

  /**
   * Records the outcomes in `completions` (in order) and returns each touched event's state
   * afterwards. The same transaction reads the state epoch first: an emptied Redis throws
   * StateLostError before anything is decided on the partial state it returns (the outcomes
   * it recorded are true either way).
   */
  async apply(completions: readonly Completion[]): Promise<Map<string, TrackedEvent>> {
    if (completions.length === 0) return new Map();
    const write = this.redis.multi();
    write.get(this.guard.key);
    for (const completion of completions) {
      const key = this.key(completion.eventId);
      if (completion.kind === 'destination') write.hset(key, `w:${completion.destination}`, completion.status, `t:${completion.destination}`, String(completion.at));
      else write.hset(key, `c:${completion.destination}`, completion.status);
      write.expire(key, this.ttlSeconds);
    }
    const ids = [...new Set(completions.map((c) => c.eventId))];
    for (const id of ids) write.hgetall(this.key(id));
    const results = await write.exec();
    if (results === null) throw new Error('tracker state: Redis transaction was discarded');
    const failed = results.find(([error]) => error !== null);
    if (failed) throw failed[0];
    this.guard.verify(results[0]![1] as string | null);
    const hashes = results.slice(results.length - ids.length).map(([, value]) => value as Record<string, string>);
    return new Map(ids.map((id, i) => [id, parseState(hashes[i]!)]));
  }

  /** Marks what was emitted for `eventId`, after it was produced. */
  async markEmitted(entries: ReadonlyMap<string, Emitted>): Promise<void> {
    if (entries.size === 0) return;
    const write = this.redis.pipeline();
    for (const [eventId, emitted] of entries) {
      const fields: string[] = [
        ...emitted.released.flatMap((d) => [`r:${d}`, '1']),
        ...emitted.compensating.flatMap((d) => [`e:${d}`, '1']),
        ...(emitted.outcome === undefined ? [] : ['o', emitted.outcome]),
      ];
      if (fields.length === 0) continue;
      write.hset(this.key(eventId), ...fields);
      write.expire(this.key(eventId), this.ttlSeconds);
    }
    const results = await write.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed) throw failed[0];
  }

  private key(eventId: string): string {
    return `${this.prefix}${eventId}`;
  }
}

function parseState(hash: Readonly<Record<string, string>>): TrackedEvent {
  const writes = new Map<string, Status>();
  const compensations = new Map<string, Status>();
  const reportedAt = new Map<string, number>();
  const released = new Set<string>();
  const compensating = new Set<string>();
  let outcome: 'completed' | 'failed' | undefined;
  for (const [field, value] of Object.entries(hash)) {
    const name = field.slice(2);
    if (field === 'o') outcome = value === 'failed' ? 'failed' : 'completed';
    else if (field.startsWith('w:')) writes.set(name, value === 'ok' ? 'ok' : 'failed');
    else if (field.startsWith('c:')) compensations.set(name, value === 'ok' ? 'ok' : 'failed');
    else if (field.startsWith('t:')) reportedAt.set(name, Number(value));
    else if (field.startsWith('r:')) released.add(name);
    else if (field.startsWith('e:')) compensating.add(name);
  }
  return { writes, compensations, reportedAt, released, compensating, ...(outcome && { outcome }) };
}
