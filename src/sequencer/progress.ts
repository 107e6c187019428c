/**
 * Pure bookkeeping of the sequencer role (no I/O): which input offsets may be committed, and
 * how a group's stored state is encoded and chosen after a crash. src/sequencer/sequencer.ts
 * does the I/O around it.
 */
import type { GroupSnapshot, SeqRange } from './buffer.js';

/**
 * One input partition's offsets. A record is `taken` when the consumer handed it over; it
 * stays `held` while the buffer keeps its event (or failure) waiting for a gap. The commit
 * position is the lowest held offset, or past the last record taken when nothing is held:
 * everything below it was emitted, dropped as a duplicate, or dead-lettered, and flushed.
 */
export class PartitionProgress {
  /** group -> seq -> offset of the record carrying it. */
  private readonly held = new Map<string, Map<bigint, bigint>>();
  private heldTotal = 0;
  private takenThrough: bigint | undefined;
  private committed: bigint | undefined;

  /** Records `offset` as handed over (in any order: a rebalance re-delivers from the last commit). */
  take(offset: string | bigint): void {
    const value = BigInt(offset);
    if (this.takenThrough === undefined || value > this.takenThrough) this.takenThrough = value;
  }

  /** `offset` carries an event (or failure) of `group` at `seq` that the buffer holds. */
  hold(group: string, seq: bigint, offset: string | bigint): void {
    let seqs = this.held.get(group);
    if (seqs === undefined) this.held.set(group, (seqs = new Map()));
    if (!seqs.has(seq)) this.heldTotal += 1;
    seqs.set(seq, BigInt(offset));
  }

  /** Lets go of every held entry of `group` below `nextExpected`: the buffer passed them. */
  release(group: string, nextExpected: bigint): void {
    const seqs = this.held.get(group);
    if (seqs === undefined) return;
    for (const seq of seqs.keys()) {
      if (seq < nextExpected) {
        seqs.delete(seq);
        this.heldTotal -= 1;
      }
    }
    if (seqs.size === 0) this.held.delete(group);
  }

  get heldCount(): number {
    return this.heldTotal;
  }

  /** Groups with something held. */
  heldGroups(): IterableIterator<string> {
    return this.held.keys();
  }

  /** The next offset to read after a restart (Kafka's commit convention), or undefined before anything was taken. */
  commitPosition(): bigint | undefined {
    let lowest: bigint | undefined;
    for (const seqs of this.held.values()) {
      for (const offset of seqs.values()) if (lowest === undefined || offset < lowest) lowest = offset;
    }
    if (lowest !== undefined) return lowest;
    return this.takenThrough === undefined ? undefined : this.takenThrough + 1n;
  }

  /** The position to commit if it moved since the last commit. */
  pendingCommit(): bigint | undefined {
    const position = this.commitPosition();
    return position !== undefined && position !== this.committed ? position : undefined;
  }

  markCommitted(position: bigint): void {
    this.committed = position;
  }
}

/**
 * A group's record in Redis: the snapshot written by flush `token`, and the snapshot as of
 * the last flush known committed before it (`previous`; absent: the group's fresh state).
 */
export interface StoredGroup {
  readonly token: string;
  readonly snapshot: string;
  readonly previous?: string;
}

/** The snapshot to restore: `snapshot` if its flush committed, else `previous`, else a fresh group. */
export function chooseSnapshot(stored: StoredGroup | undefined, committed: (token: string) => boolean): GroupSnapshot {
  if (stored === undefined) return FRESH;
  if (committed(stored.token)) return decodeSnapshot(stored.snapshot);
  return stored.previous === undefined ? FRESH : decodeSnapshot(stored.previous);
}

const FRESH: GroupSnapshot = { nextExpected: 1n, skipped: [], assumeLateThrough: 0n };

/** Compact JSON with bigints as decimal strings: `{"n":"57","s":[["3","5"]],"l":"0"}`. */
export function encodeSnapshot(snapshot: GroupSnapshot): string {
  return JSON.stringify({
    n: snapshot.nextExpected.toString(),
    s: snapshot.skipped.map((r) => [r.from.toString(), r.to.toString()]),
    l: snapshot.assumeLateThrough.toString(),
  });
}

/** Inverse of `encodeSnapshot`; throws naming what is wrong (a foreign or corrupt value). */
export function decodeSnapshot(text: string): GroupSnapshot {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`sequencer snapshot is not JSON: ${JSON.stringify(text.slice(0, 100))}`);
  }
  const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const seq = (value: unknown, what: string): bigint => {
    if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new Error(`sequencer snapshot ${what} is not a decimal string: ${JSON.stringify(text.slice(0, 100))}`);
    return BigInt(value);
  };
  if (!Array.isArray(fields.s)) throw new Error(`sequencer snapshot has no skipped list: ${JSON.stringify(text.slice(0, 100))}`);
  const skipped: SeqRange[] = fields.s.map((range: unknown) => {
    if (!Array.isArray(range) || range.length !== 2) throw new Error(`sequencer snapshot skipped range is not [from, to]: ${JSON.stringify(text.slice(0, 100))}`);
    return { from: seq(range[0], 'skipped from'), to: seq(range[1], 'skipped to') };
  });
  const nextExpected = seq(fields.n, 'next expected');
  if (nextExpected < 1n) throw new Error(`sequencer snapshot next expected must be >= 1: ${JSON.stringify(text.slice(0, 100))}`);
  return { nextExpected, skipped, assumeLateThrough: seq(fields.l, 'assume-late-through') };
}
