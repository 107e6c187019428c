/**
 * Several consumed batches in one Kafka transaction. A transaction costs a fixed set of round
 * trips whatever it carries (kafkajs: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
 * EndTxn, and a FindCoordinator before each of them), so an owner that handled each partition's
 * batch in a transaction of its own paid them once per batch. Here the batches of several
 * partitions share one: whatever arrives while a transaction is in flight goes in the next one.
 * No linger timer: a lone batch leaves at once, batches handled side by side gather themselves.
 *
 * Each part's promise settles with the transaction that carried it: resolved once its records
 * and offsets are committed, rejected when that transaction was aborted (nothing of it is
 * visible to read_committed readers, no offset moved), so each owner retries its own batch.
 * A transaction refused for what one part holds (`too-large`, `permanent`: the records' fault,
 * not the broker's state) is retried part by part, each in a transaction of its own, so only
 * the part at fault is refused and the others are not held behind it.
 *
 * A refusal as too large also renews the producer (a new one, whose InitProducerId starts
 * every sequence number over): kafkajs rolls back the sequence
 * numbers of every partition of a refused produce request, though the broker appended the
 * records of its other partitions, so the next transaction's records to one of those would be
 * refused as out of order for ever (or, with the same count of records, dropped as duplicates).
 *
 * Order: parts are written in the order they arrived, each part's records in its own order.
 * An owner hands over a partition's next batch only after the previous one settled, so the
 * batches of one partition are committed in offset order.
 */
import type { GroupConsumer, KafkaErrorKind, KafkaProducer, KafkaTransaction, TopicRecords, TransactionOffset } from './port.js';
import type { OutgoingRecord } from './records.js';

/** One owner's batch: what to write and the offsets to commit with it. */
export interface TransactionPart {
  readonly records: readonly TopicRecords[];
  /** The next offset to read, per partition the part consumed. */
  readonly offsets: readonly TransactionOffset[];
}

export interface TransactionCoalescerOptions {
  /**
   * Opens the transactional producer: the same transactional id each time (the router), or a
   * new one each time where fencing does not depend on it (the transactional kafka worker on a
   * KIP-447 backend). Only this coalescer runs transactions on it (one at a time), and `close`
   * disconnects it.
   */
  readonly open: () => Promise<KafkaProducer>;
  /** The group whose offsets the transactions commit. */
  readonly consumer: GroupConsumer;
  /** The port's `classify`: which failures a shared transaction is retried part by part for. */
  readonly classify: (error: unknown) => KafkaErrorKind;
  /**
   * Records per transaction at most; the parts past it wait for the next transaction (a part
   * is never split, so a single larger part goes alone). Bounds how much one abort throws away.
   */
  readonly maxRecords?: number;
  /**
   * Renews the producer after every failed transaction, not only after a refusal as too large:
   * for an owner that cannot tell a fenced producer (whose abort may still look fine) from a
   * transaction that merely failed, a new producer with the same id starts clean either way.
   */
  readonly renewAfterFailure?: boolean;
  /** After each committed transaction, with the number of parts it carried (metrics). */
  readonly onCommit?: (parts: number) => void;
  /**
   * An abort after a failed transaction failed too (the broker aborts it at its timeout, or
   * the next producer's InitProducerId), the disconnect of a renewed producer failed, or
   * opening a producer failed before a transaction that then opens it again; the part's own
   * error is what its owner gets.
   */
  readonly onCleanupFailed: (error: unknown) => void;
}

interface Pending {
  readonly part: TransactionPart;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Default for `maxRecords`: 12 partitions' batches of ~1,000 events copied to three topics fit. */
const DEFAULT_MAX_RECORDS = 50_000;

export class TransactionCoalescer {
  private pending: Pending[] = [];
  private inFlight = false;
  private readonly maxRecords: number;

  private constructor(
    private readonly options: TransactionCoalescerOptions,
    private producer: Promise<KafkaProducer>,
  ) {
    this.maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
  }

  /** Opens the first producer (its connection errors surface here, at start). */
  static async create(options: TransactionCoalescerOptions): Promise<TransactionCoalescer> {
    const producer = await options.open();
    return new TransactionCoalescer(options, Promise.resolve(producer));
  }

  /** Disconnects the producer; call once no part is pending (the owner's batches are done). */
  async close(): Promise<void> {
    const producer = await this.producer.catch(() => undefined); // a failed open left nothing to close
    await producer?.disconnect();
  }

  /** Commits `part` in the next transaction; settles with that transaction. */
  commit(part: TransactionPart): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ part, resolve, reject });
      // A microtask, not at once: parts handed over in the same tick share the transaction.
      if (!this.inFlight) queueMicrotask(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return;
    this.inFlight = true;
    const taken = this.take();
    try {
      await this.run(taken.map((p) => p.part));
      this.options.onCommit?.(taken.length);
      for (const p of taken) p.resolve();
    } catch (error) {
      if (taken.length > 1 && this.options.classify(error) !== 'retriable') await this.runEachAlone(taken);
      else for (const p of taken) p.reject(error);
    } finally {
      this.inFlight = false;
      if (this.pending.length > 0) void this.flush();
    }
  }

  /** The parts of the next transaction: the oldest first, up to maxRecords (at least one). */
  private take(): Pending[] {
    const taken: Pending[] = [];
    let records = 0;
    while (this.pending.length > 0) {
      const size = recordCount(this.pending[0]!.part);
      if (taken.length > 0 && records + size > this.maxRecords) break;
      taken.push(this.pending.shift()!);
      records += size;
    }
    return taken;
  }

  private async runEachAlone(parts: readonly Pending[]): Promise<void> {
    for (const p of parts) {
      try {
        await this.run([p.part]);
        this.options.onCommit?.(1);
        p.resolve();
      } catch (error) {
        p.reject(error);
      }
    }
  }

  private async run(parts: readonly TransactionPart[]): Promise<void> {
    const { consumer, classify, onCleanupFailed } = this.options;
    const producer = await this.current();
    const transaction: KafkaTransaction = await producer.transaction();
    try {
      const records = mergeRecords(parts);
      if (records.length > 0) await transaction.send(records);
      const offsets = mergeOffsets(parts);
      if (offsets.length > 0) await transaction.sendOffsets(consumer, offsets);
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(onCleanupFailed);
      if (this.options.renewAfterFailure === true || classify(error) === 'too-large') await this.renew(producer);
      throw error;
    }
  }

  /** The producer, or a fresh try at opening one when the last try failed (its error goes to the parts of this transaction). */
  private async current(): Promise<KafkaProducer> {
    try {
      return await this.producer;
    } catch (error) {
      this.options.onCleanupFailed(error); // the last open failed: a renewal's, or one whose error a failed transaction already carried
      this.producer = this.options.open();
      this.producer.catch(() => undefined); // awaited just below; the catch only keeps a later await from being the first handler
      return await this.producer;
    }
  }

  private async renew(old: KafkaProducer): Promise<void> {
    await old.disconnect().catch(this.options.onCleanupFailed);
    this.producer = this.options.open();
    this.producer.catch(() => undefined); // reported to the next transaction (current), not as an unhandled rejection
  }
}

function recordCount(part: TransactionPart): number {
  let count = 0;
  for (const { records } of part.records) count += records.length;
  return count;
}

/** One entry per topic, in the order topics first appear; each topic's records in part order. */
export function mergeRecords(parts: readonly TransactionPart[]): TopicRecords[] {
  if (parts.length === 1) return parts[0]!.records.filter((t) => t.records.length > 0);
  const byTopic = new Map<string, OutgoingRecord[]>();
  for (const part of parts) {
    for (const { topic, records } of part.records) {
      if (records.length === 0) continue;
      const list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, [...records]);
      else for (const record of records) list.push(record);
    }
  }
  return [...byTopic].map(([topic, records]) => ({ topic, records }));
}

/**
 * One offset per partition. Should two parts carry the same partition, the later part's offset
 * wins: an owner hands over a partition's batches in offset order.
 */
export function mergeOffsets(parts: readonly TransactionPart[]): TransactionOffset[] {
  const byPartition = new Map<string, TransactionOffset>();
  for (const part of parts) for (const offset of part.offsets) byPartition.set(`${offset.topic}\u0000${offset.partition}`, offset);
  return [...byPartition.values()];
}
