/**
 * Makes one sequencer step durable, in three steps (why a crash between any two neither loses
 * nor repeats output: store.ts):
 *
 *   1. the changed groups' snapshots -> Redis under a fresh flush token
 *   2. one Kafka transaction: outputs, dead letters, and the input offsets (metadata = token)
 *   3. the token is marked committed in Redis
 *
 * Offsets go up to the lowest offset whose event (or failure) the buffer still holds per
 * partition (progress.ts). Each step is retried, the same flush again, until it succeeds or
 * the role stops. Once the broker refused the transaction as too large (MESSAGE_TOO_LARGE,
 * which no retry of the same records cures), the records are measured against the topics'
 * max.message.bytes: an output that does not fit is dead-lettered `oversized` in its place and
 * a dead letter that does not fit keeps the start of its value, so the flush goes through.
 */
import { randomBytes } from 'node:crypto';
import type { GroupConsumer, KafkaAdmin, KafkaPort, KafkaProducer } from '../kafka/port.js';
import type { OutgoingRecord } from '../kafka/records.js';
import type { Logger } from '../observability/logger.js';
import { fitDeadLetter } from '../runtime/dead-letter.js';
import { oversizeReason, TopicLimits, type Oversize } from '../runtime/record-size.js';
import { oversizedLetter, type Pending, type SequencedOutput } from './emitter.js';
import type { PartitionState } from './executor.js';
import type { SequencerStore } from './store.js';

export interface SequencerCommitterOptions {
  readonly kafka: KafkaPort;
  readonly store: SequencerStore;
  readonly groupId: string;
  /** The sequencer's group member, whose offsets each flush's transaction commits (exists once the role started). */
  readonly consumer: () => GroupConsumer;
  readonly input: string;
  readonly output: string;
  readonly dlqTopic: string;
  /** Retries a step until it succeeds; rejects with AbandonedError when the role stops. */
  readonly retry: <T>(what: string, step: () => Promise<T>) => Promise<T>;
  readonly logger: Logger;
}

/** The records of one flush, made to fit their topics. */
interface FlushRecords {
  readonly byTopic: Map<string, OutgoingRecord[]>;
  /** Outputs too large for the output topic, dead-lettered instead. */
  readonly oversized: readonly { readonly output: SequencedOutput; readonly oversize: Oversize }[];
}

interface PartitionPosition {
  readonly partition: number;
  readonly position: bigint;
}

export class SequencerCommitter {
  /** Flush tokens: `<random per process>.<counter>`, never reused, so an aborted flush's token never gets marked. */
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenCounter = 0;
  private producer: KafkaProducer | undefined;
  private admin: KafkaAdmin | undefined;
  private limits = new TopicLimits();

  constructor(private readonly options: SequencerCommitterOptions) {}

  async start(): Promise<void> {
    const { kafka, groupId } = this.options;
    // A fresh transactional id per process, like the router's (no KIP-447 in kafkajs).
    this.producer = await kafka.producer({ transactionalId: `${groupId}-${this.tokenPrefix}` });
    this.admin = kafka.admin();
  }

  async stop(): Promise<void> {
    await this.producer?.disconnect();
    await this.admin?.disconnect();
  }

  /**
   * Marks the flush token in the partition's committed offset metadata as committed, before
   * any group of the partition is read: the process that committed it may have died before
   * marking it (store.ts).
   */
  async repair(partition: number, state: PartitionState): Promise<void> {
    const { groupId, input, store } = this.options;
    state.repaired ??= this.options.retry('reading the committed flush token', async () => {
      const offsets = await this.admin!.committedOffsets(groupId, [input]);
      const metadata = offsets.find((o) => o.topic === input && o.partition === partition)?.metadata;
      if (metadata) await store.markCommitted([metadata]);
    });
    try {
      await state.repaired;
    } catch (error) {
      state.repaired = undefined;
      throw error;
    }
  }

  /**
   * Makes `pending` durable (see the file comment), retrying the same flush until it succeeds.
   * Resolves to the outputs dead-lettered because they did not fit the output topic.
   */
  async flush(pending: Pending, partitions: ReadonlyMap<number, PartitionState>): Promise<number> {
    const { store, retry } = this.options;
    const offsets: PartitionPosition[] = [];
    for (const partitionNo of pending.partitions) {
      const state = partitions.get(partitionNo);
      const position = state?.progress.commitPosition();
      if (position !== undefined && (state!.progress.pendingCommit() !== undefined || pending.snapshots.size > 0)) offsets.push({ partition: partitionNo, position });
    }
    if (pending.outputs.length === 0 && pending.deadLetters.length === 0 && pending.snapshots.size === 0 && offsets.length === 0) return 0;
    this.tokenCounter += 1;
    const token = `${this.tokenPrefix}.${this.tokenCounter}`;
    await retry('writing sequencer snapshots', () => store.write(token, pending.snapshots));
    let limits: TopicLimits | undefined;
    const records = await retry('committing the sequenced output', async () => {
      const fitted = this.recordsOf(pending, limits);
      try {
        await this.transact(fitted.byTopic, offsets, token);
      } catch (error) {
        if (this.options.kafka.classify(error) === 'too-large') limits = await this.readLimits();
        throw error;
      }
      return fitted;
    });
    await retry('marking a sequencer flush committed', () => store.markCommitted([token]));
    for (const { partition, position } of offsets) partitions.get(partition)?.progress.markCommitted(position);
    for (const { output, oversize } of records.oversized) {
      const { outcome } = output;
      this.options.logger.warn(
        { eventId: outcome.eventId, plan: outcome.plan, key: outcome.key, seq: outcome.seq, destination: 'sequencer', topic: oversize.topic, bytes: oversize.bytes, maxMessageBytes: oversize.limit },
        `sequenced output too large for topic ${oversize.topic}; dead-lettered oversized`,
      );
    }
    return records.oversized.length;
  }

  /** The flush's records; measured against `limits` once the broker refused them as too large. */
  private recordsOf(pending: Pending, limits: TopicLimits | undefined): FlushRecords {
    const { output, dlqTopic } = this.options;
    const outputs: OutgoingRecord[] = [];
    const letters = [...pending.deadLetters];
    const oversized: { output: SequencedOutput; oversize: Oversize }[] = [];
    for (const sequenced of pending.outputs) {
      const oversize = limits?.oversizeOf(output, sequenced.record);
      if (oversize === undefined) {
        outputs.push(sequenced.record);
        continue;
      }
      oversized.push({ output: sequenced, oversize });
      letters.push(oversizedLetter(sequenced.outcome, oversizeReason(`the sequenced output of seq ${sequenced.outcome.seq}`, oversize)));
    }
    const byTopic = new Map<string, OutgoingRecord[]>();
    if (outputs.length > 0) byTopic.set(output, outputs);
    if (letters.length > 0) byTopic.set(dlqTopic, limits === undefined ? letters : letters.map((letter) => fitDeadLetter(letter, limits.limitOf(dlqTopic))));
    return { byTopic, oversized };
  }

  private async readLimits(): Promise<TopicLimits> {
    const { kafka, output, dlqTopic, logger } = this.options;
    this.limits = await this.limits.refreshed(kafka, [output, dlqTopic], (error) =>
      logger.warn({ err: error, topics: [output, dlqTopic] }, 'reading max.message.bytes of the sequencer\'s output topics failed; measuring against the last known limits'),
    );
    return this.limits;
  }

  private async transact(records: ReadonlyMap<string, readonly OutgoingRecord[]>, offsets: readonly PartitionPosition[], token: string): Promise<void> {
    const { groupId, input, kafka } = this.options;
    const transaction = await this.producer!.transaction();
    try {
      await transaction.send([...records].map(([topic, list]) => ({ topic, records: list })));
      if (offsets.length > 0) {
        await transaction.sendOffsets(
          this.options.consumer(),
          offsets.map((o) => ({ topic: input, partition: o.partition, offset: o.position.toString(), metadata: token })),
        );
      }
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined); // the original error is what matters; the broker times an unaborted transaction out
      // A fenced or broken transactional producer cannot begin again: start a fresh one.
      await this.producer!.disconnect().catch(() => undefined);
      this.producer = await kafka.producer({ transactionalId: `${groupId}-${this.tokenPrefix}-${token}` });
      throw error;
    }
  }
}
