/**
 * One sequencer step, decided in memory: a consumed batch of verdicts or an expiry tick goes
 * through the partition's buffer (buffer.ts), which says what is emitted, held, skipped or
 * late; the result is a `Pending` for `commit.ts` to make durable. No I/O here but reading
 * the snapshots of groups the buffer does not hold (`readStored`).
 */
import type { ConsumedRecord } from '../kafka/records.js';
import type { Logger } from '../observability/logger.js';
import { completionKindOf, parseCompletionsRecord, type EventOutcome } from '../runtime/completion.js';
import type { Emitted, GroupSnapshot, SequencerBuffer, SkippedGap } from './buffer.js';
import { lateLetter, newPending, outputRecord, oversizedLetter, type Pending } from './emitter.js';
import type { PartitionProgress } from './progress.js';

export interface Held {
  readonly outcome: EventOutcome;
  readonly record: ConsumedRecord;
}

export interface PartitionState {
  readonly buffer: SequencerBuffer<Held>;
  readonly progress: PartitionProgress;
  /** The committed offsets' flush token was marked: groups of this partition may be read from Redis. */
  repaired: Promise<void> | undefined;
}

export interface SequencerStepsOptions {
  readonly holdMs: number;
  readonly logger: Logger;
  /** Snapshots of groups as of the last committed flush (Redis), retried until read. */
  readonly readStored: (groups: readonly string[]) => Promise<Map<string, GroupSnapshot>>;
}

export class SequencerSteps {
  constructor(private readonly options: SequencerStepsOptions) {}

  /** A consumed batch of one partition (`state`, already repaired). */
  async batch(partitionNo: number, state: PartitionState, records: readonly ConsumedRecord[]): Promise<Pending> {
    const { logger, holdMs } = this.options;
    const outcomes: { record: ConsumedRecord; outcome: EventOutcome }[] = [];
    for (const record of records) {
      const kind = completionKindOf(record);
      // Destination and compensation reports are the tracker's, and a kind this flowyard does not know is no one's here: skipped by the header alone.
      if (kind !== 'event' && kind !== 'legacy') continue;
      const parsed = parseCompletionsRecord(record);
      if (parsed?.kind === 'event') outcomes.push({ record, outcome: parsed });
      else if (parsed === undefined) logger.warn({ origin: origin(record) }, 'completions record not understood; ignored');
    }

    const pending = newPending();
    pending.partitions.add(partitionNo);
    // Groups this batch touches, with their newest known state: an idle group may be evicted
    // from the buffer mid-batch and must then come back from here, not from Redis.
    const latest = new Map<string, GroupSnapshot>();
    const unknown = new Set<string>();
    for (const { outcome } of outcomes) {
      if (latest.has(outcome.key) || unknown.has(outcome.key)) continue;
      const snapshot = state.buffer.snapshot(outcome.key);
      if (snapshot === undefined) unknown.add(outcome.key);
      else latest.set(outcome.key, snapshot);
    }
    if (unknown.size > 0) {
      const stored = await this.options.readStored([...unknown]);
      for (const [group, snapshot] of stored) latest.set(group, snapshot);
    }

    const now = Date.now();
    for (const record of records) {
      state.progress.take(record.offset);
    }
    for (const { record, outcome } of outcomes) {
      const group = outcome.key;
      if (!state.buffer.knows(group)) state.buffer.restore(group, latest.get(group)!);
      const before = latest.get(group)!.nextExpected;
      const result = outcome.status === 'completed' ? state.buffer.offer(group, outcome.seq, { outcome, record }, now) : state.buffer.fail(group, outcome.seq, now);
      const fields = logFields(outcome, record);
      switch (result.status) {
        case 'held':
          state.progress.hold(group, BigInt(outcome.seq), record.offset);
          logger.debug({ ...fields, nextExpected: String(before) }, 'event held for a gap before it');
          break;
        case 'late':
          if (outcome.status === 'completed') {
            pending.deadLetters.push(lateLetter(outcome, record, state.buffer.snapshot(group)!, holdMs));
            pending.late += 1;
            logger.warn(fields, 'event arrived after its gap was skipped; dead-lettered as late');
          }
          break;
        case 'duplicate':
          logger.debug(fields, 'event already emitted, failed or held; dropped');
          break;
        case 'in-order':
          if (outcome.status === 'failed') logger.info(fields, 'failed event closes its gap');
          break;
      }
      this.emit(result.emitted, pending);
      const after = state.buffer.snapshot(group)!;
      latest.set(group, after);
      if (after.nextExpected !== before) noteMoved(state, partitionNo, group, after, pending);
    }
    return pending;
  }

  /** An expiry tick: gaps older than `holdMs` are skipped and what waited behind them is emitted. */
  expire(partitions: ReadonlyMap<number, PartitionState>, now: number): Pending {
    const pending = newPending();
    for (const [partitionNo, state] of partitions) {
      if (state.buffer.size === 0) continue;
      const { emitted, skipped } = state.buffer.expire(now);
      for (const gap of skipped) this.logSkipped(gap);
      pending.gaps += skipped.length;
      this.emit(emitted, pending);
      const groups = new Set([...skipped.map((g) => g.group), ...emitted.map((e) => e.group)]);
      for (const group of groups) {
        // Groups that had a gap skipped or emitted hold nothing more below; they are active, so in memory.
        const snapshot = state.buffer.snapshot(group);
        if (snapshot !== undefined) noteMoved(state, partitionNo, group, snapshot, pending);
      }
    }
    return pending;
  }

  private emit(emitted: readonly Emitted<Held>[], pending: Pending): void {
    for (const { item } of emitted) {
      const omitted = item.outcome.valueOmittedBytes;
      if (omitted !== undefined) {
        const { topic, partition, offset } = item.outcome.origin;
        const error = `the event's value (${omitted} bytes) was left out of its verdict because it would not fit the completions topic; the whole event is at ${topic}/${partition}/${offset}`;
        pending.deadLetters.push(oversizedLetter(item.outcome, error));
        pending.valueOmitted += 1;
        this.options.logger.warn({ ...logFields(item.outcome, item.record), plan: item.outcome.plan, destination: 'sequencer', topic: item.record.topic, bytes: omitted, reason: error }, 'completed event without its value; dead-lettered oversized instead of written to the output');
        continue;
      }
      pending.outputs.push(outputRecord(item.outcome));
      this.options.logger.debug(logFields(item.outcome, item.record), 'event emitted in order');
    }
  }

  private logSkipped(gap: SkippedGap): void {
    const { holdMs } = this.options;
    const missing = gap.from === gap.to ? String(gap.from) : `${gap.from}-${gap.to}`;
    this.options.logger.warn({ key: gap.group, missingFrom: String(gap.from), missingTo: String(gap.to), holdMs }, `gap skipped after holdMs: seq ${missing} of the group never came`);
  }
}

/** `group`'s next expected seq moved: store its snapshot with this step, let go of the offsets it passed. */
function noteMoved(state: PartitionState, partitionNo: number, group: string, snapshot: GroupSnapshot, pending: Pending): void {
  state.progress.release(group, snapshot.nextExpected);
  pending.snapshots.set(group, snapshot);
  pending.partitions.add(partitionNo);
}

function origin(record: ConsumedRecord): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}

function logFields(outcome: EventOutcome, record: ConsumedRecord): Record<string, unknown> {
  return { eventPlan: outcome.plan, key: outcome.key, seq: outcome.seq, eventId: outcome.eventId, status: outcome.status, origin: origin(record) };
}
