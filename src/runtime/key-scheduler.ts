/**
 * Key-ordered concurrency for a worker, in the style of Confluent Parallel Consumer:
 * many keys in flight at once, at most one record per key (`ordering: 'key'`), offsets
 * committed only up to the lowest unfinished record of each partition (docs/architecture.md §6).
 * Pure bookkeeping: no I/O, no timers, no clock. The worker feeds it what it consumed,
 * starts what it hands out, and reports each record's end.
 */
import type { Ordering } from '../topology/plan.js';

/** What the scheduler needs of a consumed record; the worker's own type carries the rest. */
export interface SchedulableRecord {
  readonly partition: number;
  /** Kafka offset: an int64 as a decimal string. */
  readonly offset: string;
  /**
   * Causal key. Records with equal keys run one at a time, in offset order; the router
   * keys every derived topic by it, so one key lives in one partition.
   */
  readonly key: string;
}

export interface KeySchedulerOptions {
  readonly ordering: Ordering;
  /**
   * Max records started and not yet `released` at once: the destination's `concurrency`, the
   * writes open at the destination. A released record stays in flight (its key blocked, its
   * offset uncommitted) while its bookkeeping after the write finishes.
   */
  readonly concurrency: number;
  /** Capacity of the whole process, queued + in flight. */
  readonly maxBuffered: number;
  /** Capacity of one partition, so one busy partition cannot take the whole buffer. */
  readonly maxBufferedPerPartition: number;
  /**
   * Share of a capacity to drain down to before a paused partition resumes. Default 0.5:
   * the gap between pause and resume lets one fetch refill the buffer without flapping.
   */
  readonly resumeRatio?: number;
}

/** An offset to commit: Kafka's convention, the next offset the group will read. */
export interface PartitionOffset {
  readonly partition: number;
  readonly offset: string;
}

const DEFAULT_RESUME_RATIO = 0.5;

/**
 * How the worker drives it (see the TSDoc of each method):
 *
 * 1. consume: `enqueue(batch)`; then pause the partition if `isFull(partition)`
 *    (and every partition if `isFull()`). Capacity is a soft bound: `enqueue` never
 *    refuses, so memory tops out at a capacity plus the batch fetched before the pause.
 * 2. start: `nextRunnable()` (or `drainRunnable()`) while it returns records; each one
 *    stays in flight, its key blocked, through every retry and backoff wait, until
 *    Once its destination write ended, `release(record)` gives its concurrency slot to the
 *    next record (of another key) while its own bookkeeping (done-key, hand-on) goes on.
 * 3. `complete(record)`, whatever the outcome (written, dead-lettered). Then start more,
 *    resume paused partitions for which `shouldResume(partition)` holds, and commit
 *    `committableOffsets()`, calling `markCommitted` once the broker accepted.
 * 4. on rebalance: commit `committable(partition)` of the partitions being lost while
 *    still their owner, then `revoke(partitions)`, which forgets their offsets.
 */
export class KeyScheduler<R extends SchedulableRecord> {
  private readonly lanes = new Map<string, Lane<R>>();
  /** Lanes with a queued record and nothing in flight, oldest first: keys take turns. */
  private readonly ready = new Fifo<Lane<R>>();
  private readonly partitions = new Map<number, PartitionState<R>>();
  private readonly running = new Map<R, Entry<R>>();
  /** In-flight records not yet released: what `concurrency` bounds. */
  private holdingSlots = 0;
  private queued = 0;
  private readonly resumeBelowTotal: number;
  private readonly resumeBelowPartition: number;

  constructor(private readonly options: KeySchedulerOptions) {
    for (const name of ['concurrency', 'maxBuffered', 'maxBufferedPerPartition'] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
    }
    const resumeRatio = options.resumeRatio ?? DEFAULT_RESUME_RATIO;
    if (!(resumeRatio >= 0 && resumeRatio < 1)) throw new RangeError(`resumeRatio must be in [0, 1), got ${resumeRatio}`);
    this.resumeBelowTotal = Math.floor(options.maxBuffered * resumeRatio);
    this.resumeBelowPartition = Math.floor(options.maxBufferedPerPartition * resumeRatio);
  }

  /** Records queued or in flight, revoked partitions' in-flight ones included. */
  get size(): number {
    return this.queued + this.running.size;
  }

  /** Records handed out and not yet completed; a graceful stop waits for 0. */
  get inFlight(): number {
    return this.running.size;
  }

  /**
   * Queues consumed records, which must come in offset order per partition (as Kafka
   * delivers them). A record at or below the highest offset already seen for its
   * partition is skipped: after a pause, kafkajs fetches again from the last resolved
   * offset, and the re-fetched records are already here. Returns how many were queued.
   */
  enqueue(records: Iterable<R>): number {
    let accepted = 0;
    for (const record of records) {
      const position = BigInt(record.offset);
      let partition = this.partitions.get(record.partition);
      if (partition === undefined) {
        partition = new PartitionState<R>(position);
        this.partitions.set(record.partition, partition);
      } else if (position <= partition.highestSeen) {
        continue;
      }
      partition.highestSeen = position;
      const laneId = this.options.ordering === 'key' ? `k:${record.key}` : `o:${record.partition}:${record.offset}`;
      let lane = this.lanes.get(laneId);
      if (lane === undefined) {
        lane = { id: laneId, queue: new Fifo<Entry<R>>(), inFlight: false, ready: false };
        this.lanes.set(laneId, lane);
      }
      const entry: Entry<R> = { record, position, lane, owner: partition, status: 'queued' };
      partition.unfinished.push(entry);
      partition.unfinishedCount += 1;
      lane.queue.push(entry);
      this.queued += 1;
      this.markReadyIfRunnable(lane);
      accepted += 1;
    }
    return accepted;
  }

  /**
   * The next record to start, or undefined when `concurrency` records are in flight or
   * every queued record waits behind its key. Keys take turns (oldest waiting first), so
   * one busy key cannot starve the others.
   */
  nextRunnable(): R | undefined {
    if (this.holdingSlots >= this.options.concurrency) return undefined;
    for (let lane = this.ready.shift(); lane !== undefined; lane = this.ready.shift()) {
      lane.ready = false;
      // A lane emptied by revoke() may still sit in the ready queue.
      const entry = lane.queue.shift();
      if (entry === undefined) continue;
      entry.status = 'in-flight';
      entry.holdsSlot = true;
      this.holdingSlots += 1;
      lane.inFlight = true;
      this.queued -= 1;
      this.running.set(entry.record, entry);
      return entry.record;
    }
    return undefined;
  }

  /** Every record that may start now, up to `limit`. */
  drainRunnable(limit = Number.POSITIVE_INFINITY): R[] {
    const started: R[] = [];
    while (started.length < limit) {
      const record = this.nextRunnable();
      if (record === undefined) break;
      started.push(record);
    }
    return started;
  }

  /**
   * Gives the concurrency slot of an in-flight record to the next record: its destination
   * write ended, what remains (done-key, hand-on, completion) does not occupy the destination.
   * The record stays in flight: its key stays blocked and its offset uncommitted until
   * `complete` or `abandon`. Releasing twice, or a record already out of flight, is a no-op.
   */
  release(record: R): void {
    const entry = this.running.get(record);
    if (entry === undefined || !entry.holdsSlot) return;
    entry.holdsSlot = false;
    this.holdingSlots -= 1;
  }

  /**
   * Ends a record handed out by `nextRunnable`, whatever its outcome: written,
   * dead-lettered or given up because its partition was revoked. Frees its key and lets
   * its partition's commit offset move past it.
   */
  complete(record: R): void {
    const entry = this.leaveFlight(record, 'complete');
    entry.status = 'done';
    // A record of a revoked partition finishes, but the new owner commits that partition.
    if (this.partitions.get(record.partition) !== entry.owner) return;
    const partition = entry.owner;
    partition.unfinishedCount -= 1;
    while (partition.unfinished.peek()?.status === 'done') partition.unfinished.shift();
  }

  /**
   * Ends a record handed out by `nextRunnable` that was abandoned at shutdown: it leaves the
   * in-flight set (a graceful stop waits for that set to empty) and frees its key, but stays
   * unfinished, so its partition's commit offset never moves past it and the next owner
   * reads it again.
   */
  abandon(record: R): void {
    this.leaveFlight(record, 'abandon');
  }

  /** Takes a record out of flight and frees its key's lane for the next record. */
  private leaveFlight(record: R, caller: 'complete' | 'abandon'): Entry<R> {
    const entry = this.running.get(record);
    if (entry === undefined) {
      throw new Error(`${caller}() of a record that is not in flight: partition ${record.partition} offset ${record.offset}`);
    }
    this.running.delete(record);
    if (entry.holdsSlot) {
      entry.holdsSlot = false;
      this.holdingSlots -= 1;
    }
    const { lane } = entry;
    lane.inFlight = false;
    if (lane.queue.length === 0) this.lanes.delete(lane.id);
    else this.markReadyIfRunnable(lane);
    return entry;
  }

  /**
   * The offset to commit for `partition`: the lowest unfinished offset, or the highest
   * seen + 1 when everything finished; undefined when that is not beyond the last
   * `markCommitted` offset (initially the first offset consumed: nothing before it is ours).
   * Offsets between records (transaction markers, compacted records) need no completion,
   * so the commit never waits for an offset that will not arrive.
   */
  committable(partition: number): string | undefined {
    const state = this.partitions.get(partition);
    if (state === undefined) return undefined;
    const position = state.commitPosition();
    return position > state.committed ? position.toString() : undefined;
  }

  /** `committable` of every assigned partition that has something new, for one commit call. */
  committableOffsets(): PartitionOffset[] {
    const offsets: PartitionOffset[] = [];
    for (const partition of this.partitions.keys()) {
      const offset = this.committable(partition);
      if (offset !== undefined) offsets.push({ partition, offset });
    }
    return offsets;
  }

  /**
   * Offsets `first`..`last` of `partition` were consumed and carry no record (transaction
   * markers): the commit may move past them once everything before them finished.
   */
  skip(partition: number, first: string, last: string): void {
    let state = this.partitions.get(partition);
    if (state === undefined) {
      state = new PartitionState<R>(BigInt(first));
      this.partitions.set(partition, state);
    }
    const position = BigInt(last);
    if (position > state.highestSeen) state.highestSeen = position;
  }

  /**
   * Records that the broker accepted a commit. Kept separate from `committable` so a
   * failed commit is offered again by the next `committable` call.
   */
  markCommitted(partition: number, offset: string): void {
    const state = this.partitions.get(partition);
    if (state === undefined) return;
    const position = BigInt(offset);
    if (position > state.committed) state.committed = position;
  }

  /**
   * Forgets partitions taken away by a rebalance: their queued records are dropped (the
   * new owner reads them again from the committed offset) and their offsets forgotten.
   * Their in-flight records still run to `complete()` and keep their keys blocked, so a
   * quick re-assignment cannot start a record of the same key beside them.
   */
  revoke(partitions: Iterable<number>): void {
    let dropped = 0;
    for (const partition of partitions) {
      const state = this.partitions.get(partition);
      if (state === undefined) continue;
      this.partitions.delete(partition);
      for (const entry of state.unfinished) {
        if (entry.status !== 'queued') continue;
        entry.status = 'dropped';
        dropped += 1;
      }
    }
    if (dropped === 0) return;
    this.queued -= dropped;
    for (const lane of this.lanes.values()) {
      lane.queue.removeWhere((entry) => entry.status === 'dropped');
      if (lane.queue.length === 0 && !lane.inFlight) this.lanes.delete(lane.id);
    }
  }

  /**
   * Whether consumption should pause: the whole buffer is at `maxBuffered`, or (given a
   * partition) that partition is at `maxBufferedPerPartition`.
   */
  isFull(partition?: number): boolean {
    if (this.size >= this.options.maxBuffered) return true;
    if (partition === undefined) return false;
    return this.unfinishedOf(partition) >= this.options.maxBufferedPerPartition;
  }

  /**
   * Whether a paused partition (or, without one, a fully paused consumer) may resume:
   * the buffer drained to `resumeRatio` of its capacity, and so did the partition.
   */
  shouldResume(partition?: number): boolean {
    if (this.size > this.resumeBelowTotal) return false;
    if (partition === undefined) return true;
    return this.unfinishedOf(partition) <= this.resumeBelowPartition;
  }

  private unfinishedOf(partition: number): number {
    return this.partitions.get(partition)?.unfinishedCount ?? 0;
  }

  private markReadyIfRunnable(lane: Lane<R>): void {
    if (lane.inFlight || lane.ready || lane.queue.length === 0) return;
    lane.ready = true;
    this.ready.push(lane);
  }
}

type EntryStatus = 'queued' | 'in-flight' | 'done' | 'dropped';

interface Entry<R> {
  readonly record: R;
  readonly position: bigint;
  readonly lane: Lane<R>;
  /** The assignment the record was consumed under; a revoke replaces it. */
  readonly owner: PartitionState<R>;
  status: EntryStatus;
  /** Started and not yet released: counts against `concurrency`. */
  holdsSlot?: boolean;
}

/** The records that must run one at a time: one key, or with `ordering: 'none'` one record. */
interface Lane<R> {
  readonly id: string;
  readonly queue: Fifo<Entry<R>>;
  inFlight: boolean;
  /** Whether the lane sits in the scheduler's ready queue, so it is never queued twice. */
  ready: boolean;
}

class PartitionState<R> {
  /** Queued and in-flight records in offset order, done ones trimmed from the front. */
  readonly unfinished = new Fifo<Entry<R>>();
  unfinishedCount = 0;
  highestSeen: bigint;
  committed: bigint;

  constructor(firstOffset: bigint) {
    this.highestSeen = firstOffset - 1n;
    this.committed = firstOffset;
  }

  commitPosition(): bigint {
    return this.unfinished.peek()?.position ?? this.highestSeen + 1n;
  }
}

/** Below this many consumed slots compaction is not worth a copy. */
const COMPACT_AFTER = 1024;

/** Array-backed FIFO with O(1) amortised shift (Array#shift copies the whole array). */
class Fifo<T> implements Iterable<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    // Compact once the consumed prefix outweighs the live part, keeping shift amortised O(1).
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  removeWhere(predicate: (item: T) => boolean): void {
    const kept: T[] = [];
    for (const item of this) if (!predicate(item)) kept.push(item);
    this.items = kept;
    this.head = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.head; i < this.items.length; i += 1) yield this.items[i] as T;
  }
}
