/**
 * Whether Redis still holds flowyard's state of a topology, decided without I/O.
 *
 * Every guarantee in src/dedup/store.ts rests on keys in Redis. A Redis that restarts
 * without persistence (or is flushed, or replaced by an empty one) comes back empty and
 * answers every lookup with "never seen": re-sent ids would be routed again with a new seq,
 * and re-delivered copies written a second time. Nothing in an empty reply tells that apart
 * from a new deployment, so each topology keeps one marker:
 *
 *   fy:{name}:epoch   a random id, written once when the topology first runs (no TTL)
 *
 * A process learns the epoch when it arms (at start) and compares it with the value read in
 * the same round trip as each batch's Redis lookups, and after every reconnect. At start, a
 * missing epoch is either a first run or a loss; Kafka tells which: the router's consumer
 * group commits its source offsets in the same transaction as the copies it routes, so
 * committed router offsets mean events were routed, and their Redis state once existed.
 */

/** The state a topology keeps in Redis, by key family: what a loss takes with it. */
export const STATE_KEY_FAMILIES = [
  'routed (router dedup of re-sent ids)',
  'seq and seqof (per-key sequence numbers)',
  'done (destination done-keys)',
  'inflight (keys in flight per plan)',
  'track (tracker outcomes and releases)',
  'sequencer (sequencer snapshots)',
] as const;

export type EpochVerdict =
  /** Redis holds this topology's state under `epoch`. */
  | { readonly kind: 'armed'; readonly epoch: string }
  /** Neither Redis nor Kafka knows the topology: a first run, which writes a new epoch. */
  | { readonly kind: 'first-run' }
  /** Redis lost the state: refuse to go on until an operator recovers it. */
  | { readonly kind: 'lost'; readonly reason: string };

/** At start: what Redis holds (`stored`) and whether Kafka shows the topology ran before. */
export function judgeAtStart(stored: string | null, routedBefore: boolean): EpochVerdict {
  if (stored !== null) return { kind: 'armed', epoch: stored };
  if (!routedBefore) return { kind: 'first-run' };
  return { kind: 'lost', reason: 'the epoch key is missing from Redis although the router group has committed offsets in Kafka (events were routed before)' };
}

/**
 * While running: the epoch this process armed with (`known`) against the one read now.
 * A different epoch was written by `flowyard state recover` (or by a first run after the
 * loss, which Kafka's committed offsets rule out): it is the operator's acknowledgement.
 */
export function judgeRunning(known: string, stored: string | null): Exclude<EpochVerdict, { kind: 'first-run' }> {
  if (stored === null) return { kind: 'lost', reason: `the epoch key (${known}) disappeared from Redis while running` };
  return { kind: 'armed', epoch: stored };
}

/** Thrown by a Redis lookup that found the topology's state lost; the role's batch waits. */
export class StateLostError extends Error {
  constructor(
    readonly topology: string,
    readonly reason: string,
  ) {
    super(`Redis lost the state of topology ${topology}: ${reason}`);
    this.name = 'StateLostError';
  }
}
