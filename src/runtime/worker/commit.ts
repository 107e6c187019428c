/**
 * Offset commits of a worker: up to the lowest unfinished record of each partition (the key
 * scheduler tracks which records finished), at most every `intervalMs`, one commit at a
 * time. A record finishes only after its done-key and its hand-on are written, so a crash
 * re-delivers at most the records after the last commit, and done-keys stop their writes.
 */
import type { Logger } from '../../observability/logger.js';
import type { PartitionOffset } from '../key-scheduler.js';

/** Where the committable offsets come from: `KeyScheduler`. */
export interface CommitSource {
  committableOffsets(): PartitionOffset[];
  markCommitted(partition: number, offset: string): void;
}

export interface OffsetCommitterOptions {
  readonly topic: string;
  readonly source: CommitSource;
  /** The group's consumer, which commits; undefined before it exists. */
  readonly consumer: () => { commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> } | undefined;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Fields of the warning a failed commit logs. */
  readonly logFields: Record<string, unknown>;
}

export class OffsetCommitter {
  private timer: NodeJS.Timeout | undefined;
  private committing: Promise<void> = Promise.resolve();

  constructor(private readonly options: OffsetCommitterOptions) {}

  /** Commits within `intervalMs` unless a commit is already scheduled. */
  schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.commit();
    }, this.options.intervalMs);
  }

  /** Cancels a scheduled commit and commits now (at shutdown). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    return this.commit();
  }

  /** Commits up to the lowest unfinished offset per partition; a failed commit is offered again next time. */
  private commit(): Promise<void> {
    this.committing = this.committing.then(async () => {
      const { source, topic, logger } = this.options;
      const offsets = source.committableOffsets();
      const consumer = this.options.consumer();
      if (offsets.length === 0 || consumer === undefined) return;
      try {
        await consumer.commit(offsets.map((o) => ({ topic, ...o })));
        for (const o of offsets) source.markCommitted(o.partition, o.offset);
      } catch (error) {
        // After a rebalance the partition may belong to another member; it re-reads from the last commit and done-keys stop double writes.
        logger.warn({ err: error, ...this.options.logFields, offsets }, 'offset commit failed; will retry');
      }
    });
    return this.committing;
  }
}
