/**
 * The sequencer's buffer (docs/architecture.md §6): per causal group, events go out in seq order.
 * An event that arrives ahead of a gap is held; the gap closes when the missing event
 * arrives, when it is reported failed, or when something has waited `holdMs` (then the
 * gap is skipped). Pure: the role passes `now` in, persists snapshots, and pauses
 * consumption on `isFull`.
 */

/** Inclusive range of seqs. */
export interface SeqRange {
  readonly from: bigint;
  readonly to: bigint;
}

export interface Emitted<T> {
  readonly group: string;
  readonly seq: bigint;
  readonly item: T;
}

/** Seqs of `group` given up on because a later event waited `holdMs`. */
export interface SkippedGap extends SeqRange {
  readonly group: string;
}

/**
 * - `in-order`: it was the next expected seq and went out at once (a failure: closed its gap),
 *   together with the held events it unblocked;
 * - `held`: it waits for a gap before it;
 * - `late`: its gap was skipped before it came; route it to the DLQ with class `late`;
 * - `duplicate`: that seq was already emitted, failed or is held; drop it.
 */
export type SeqStatus = 'in-order' | 'held' | 'late' | 'duplicate';

export interface OfferResult<T> {
  readonly status: SeqStatus;
  /** What may be written to the output now, in seq order. */
  readonly emitted: readonly Emitted<T>[];
}

export interface ExpireResult<T> {
  readonly emitted: readonly Emitted<T>[];
  readonly skipped: readonly SkippedGap[];
}

/** A group's durable state: what the role stores (Redis) and hands back to `restore`. */
export interface GroupSnapshot {
  readonly nextExpected: bigint;
  /** Remembered skipped ranges, ascending, so a late arrival is still told from a duplicate. */
  readonly skipped: readonly SeqRange[];
  /**
   * Seqs at or below this that are not in `skipped` are reported `late`: skipped ranges
   * up to here were forgotten to keep memory bounded. 0 when nothing was forgotten.
   */
  readonly assumeLateThrough: bigint;
}

export interface SequencerBufferOptions {
  /** How long an event waits for a gap before it; the topology's `ordering.sequencer.holdMs`. */
  readonly holdMs: number;
  /** Held events (and failure markers) per group before `isFull(group)`. */
  readonly maxPerGroup: number;
  /** Held events (and failure markers) in all before `isFull()`. */
  readonly maxBuffered: number;
  /**
   * Groups with nothing held whose state stays in memory, least recently used beyond it
   * forgotten; a forgotten group must be `restore`d before its next event.
   */
  readonly maxIdleGroups: number;
  /** Skipped ranges remembered per group. Default 64. */
  readonly maxSkippedRanges?: number;
}

const DEFAULT_MAX_SKIPPED_RANGES = 64;

/**
 * Groups are known only once `restore`d: the role reads each group's snapshot from its
 * store (a new group: `{ nextExpected: 1n, skipped: [] }`) before the group's first event
 * and after the group was forgotten as idle, and stores `snapshot(group)` whenever it
 * emitted, so a restart resumes where the output stopped.
 *
 * Bounds are soft like the worker's: `offer` never refuses, the role pauses consumption
 * once `isFull` and resumes when `expire` and arrivals drained it. Pausing cannot
 * deadlock on a gap whose event is behind the pause, because `expire` skips by time.
 */
export class SequencerBuffer<T> {
  private readonly groups = new Map<string, GroupState<T>>();
  /** Groups holding something; `expire` looks only at these. */
  private readonly active = new Map<string, GroupState<T>>();
  /** Groups holding nothing, least recently used first. */
  private readonly idle = new Set<string>();
  private held = 0;
  private readonly maxSkippedRanges: number;

  constructor(private readonly options: SequencerBufferOptions) {
    if (!(options.holdMs >= 0)) throw new RangeError(`holdMs must be >= 0, got ${options.holdMs}`);
    for (const name of ['maxPerGroup', 'maxBuffered', 'maxIdleGroups'] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
    }
    this.maxSkippedRanges = options.maxSkippedRanges ?? DEFAULT_MAX_SKIPPED_RANGES;
    if (!Number.isInteger(this.maxSkippedRanges) || this.maxSkippedRanges < 1) {
      throw new RangeError(`maxSkippedRanges must be an integer >= 1, got ${this.maxSkippedRanges}`);
    }
  }

  /** Held events and failure markers, all groups. */
  get size(): number {
    return this.held;
  }

  /** Whether the group's state is in memory; if not, `restore` it before offering. */
  knows(group: string): boolean {
    return this.groups.has(group);
  }

  /**
   * Loads a group's stored state. Ignored (returns false) if the group is already
   * known: the state in memory is newer than any store, and two events of one group may
   * both have looked up the store before either restored it.
   */
  restore(group: string, snapshot: { readonly nextExpected: bigint | number } & Partial<Omit<GroupSnapshot, 'nextExpected'>>): boolean {
    if (this.groups.has(group)) return false;
    const skipped = [...(snapshot.skipped ?? [])];
    let assumeLateThrough = snapshot.assumeLateThrough ?? 0n;
    while (skipped.length > this.maxSkippedRanges) assumeLateThrough = skipped.shift()?.to ?? assumeLateThrough;
    this.groups.set(group, { next: toSeq(snapshot.nextExpected), held: new Map(), skipped, assumeLateThrough });
    this.touchIdle(group);
    return true;
  }

  /** What to store for `group`, or undefined if it is not known. */
  snapshot(group: string): GroupSnapshot | undefined {
    const state = this.groups.get(group);
    if (state === undefined) return undefined;
    return { nextExpected: state.next, skipped: [...state.skipped], assumeLateThrough: state.assumeLateThrough };
  }

  /** Takes a completed event; see `SeqStatus`. */
  offer(group: string, seq: bigint | number, item: T, now: number): OfferResult<T> {
    return this.arrive(group, toSeq(seq), { kind: 'item', item, arrivedAt: now });
  }

  /**
   * Reports that event `seq` failed and will never come: its gap closes at once, so the
   * events after it need not wait `holdMs`. Nothing is emitted for it.
   */
  fail(group: string, seq: bigint | number, now: number): OfferResult<T> {
    return this.arrive(group, toSeq(seq), { kind: 'failed', arrivedAt: now });
  }

  /**
   * Skips, in every group, the gaps below any event (or failure) that has waited
   * `holdMs`, and emits what that unblocks. Call it on a timer; a period of a fraction
   * of `holdMs` bounds the extra wait.
   */
  expire(now: number): ExpireResult<T> {
    const emitted: Emitted<T>[] = [];
    const skipped: SkippedGap[] = [];
    for (const [group, state] of [...this.active]) {
      let through: bigint | undefined;
      for (const [seq, entry] of state.held) {
        if (entry.arrivedAt + this.options.holdMs <= now && (through === undefined || seq > through)) through = seq;
      }
      if (through === undefined) continue;
      const waiting = [...state.held].filter(([seq]) => seq <= through).sort(([a], [b]) => compareSeq(a, b));
      for (const [seq, entry] of waiting) {
        if (seq > state.next) {
          const gap = { from: state.next, to: seq - 1n };
          this.rememberSkipped(state, gap);
          skipped.push({ group, ...gap });
        }
        this.release(group, state, seq, entry, emitted);
      }
      this.releaseConsecutive(group, state, emitted);
    }
    return { emitted, skipped };
  }

  /**
   * Whether consumption should pause: everything held reached `maxBuffered`, or (given
   * a group) that group reached `maxPerGroup`.
   */
  isFull(group?: string): boolean {
    if (this.held >= this.options.maxBuffered) return true;
    if (group === undefined) return false;
    return (this.groups.get(group)?.held.size ?? 0) >= this.options.maxPerGroup;
  }

  private arrive(group: string, seq: bigint, entry: HeldEntry<T>): OfferResult<T> {
    const state = this.groups.get(group);
    if (state === undefined) throw new Error(`sequencer group ${JSON.stringify(group)} is not restored; restore() it from the store first`);
    if (seq < state.next) return { status: this.classifyPast(state, seq), emitted: [] };
    if (state.held.has(seq)) return { status: 'duplicate', emitted: [] };
    this.hold(group, state, seq, entry);
    if (seq > state.next) return { status: 'held', emitted: [] };
    const emitted: Emitted<T>[] = [];
    this.releaseConsecutive(group, state, emitted);
    return { status: 'in-order', emitted };
  }

  /**
   * Below the next expected seq everything was emitted, failed or skipped. Where the
   * skipped ranges are no longer remembered the answer is `late`: a duplicate in the DLQ
   * costs a look, a late event taken for a duplicate would be lost.
   */
  private classifyPast(state: GroupState<T>, seq: bigint): 'late' | 'duplicate' {
    if (seq <= state.assumeLateThrough) return 'late';
    return state.skipped.some((range) => range.from <= seq && seq <= range.to) ? 'late' : 'duplicate';
  }

  private hold(group: string, state: GroupState<T>, seq: bigint, entry: HeldEntry<T>): void {
    state.held.set(seq, entry);
    this.held += 1;
    this.idle.delete(group);
    this.active.set(group, state);
  }

  private releaseConsecutive(group: string, state: GroupState<T>, emitted: Emitted<T>[]): void {
    for (let entry = state.held.get(state.next); entry !== undefined; entry = state.held.get(state.next)) {
      this.release(group, state, state.next, entry, emitted);
    }
    if (state.held.size === 0) {
      this.active.delete(group);
      this.touchIdle(group);
    }
  }

  /** Passes held `seq`, the new next expected one: emits an event, steps over a failure. */
  private release(group: string, state: GroupState<T>, seq: bigint, entry: HeldEntry<T>, emitted: Emitted<T>[]): void {
    state.held.delete(seq);
    this.held -= 1;
    if (entry.kind === 'item') emitted.push({ group, seq, item: entry.item });
    state.next = seq + 1n;
  }

  private rememberSkipped(state: GroupState<T>, gap: SeqRange): void {
    state.skipped.push(gap);
    if (state.skipped.length > this.maxSkippedRanges) {
      state.assumeLateThrough = state.skipped.shift()?.to ?? state.assumeLateThrough;
    }
  }

  /** Marks the group as the most recently used idle one and forgets the oldest beyond the bound. */
  private touchIdle(group: string): void {
    this.idle.delete(group);
    this.idle.add(group);
    while (this.idle.size > this.options.maxIdleGroups) {
      const oldest = this.idle.values().next().value;
      if (oldest === undefined) break;
      this.idle.delete(oldest);
      this.groups.delete(oldest);
    }
  }
}

type HeldEntry<T> = { readonly kind: 'item'; readonly item: T; readonly arrivedAt: number } | { readonly kind: 'failed'; readonly arrivedAt: number };

interface GroupState<T> {
  /** Next expected seq; every seq below it was emitted, failed or skipped. */
  next: bigint;
  /** Seqs above `next` that arrived (events) or were reported failed. */
  readonly held: Map<bigint, HeldEntry<T>>;
  /** Skipped ranges, ascending, at most `maxSkippedRanges`; never adjacent, a held seq ends each. */
  readonly skipped: SeqRange[];
  /** Highest seq of a skipped range no longer remembered; at or below it, `late` is assumed. */
  assumeLateThrough: bigint;
}

function toSeq(seq: bigint | number): bigint {
  const value = typeof seq === 'bigint' ? seq : BigInt(seq);
  if (value < 1n) throw new RangeError(`seq starts at 1, got ${value}`);
  return value;
}

function compareSeq(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
