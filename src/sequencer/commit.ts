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
 * the role stops.
 */
import { randomBytes } from 'node:crypto';
import type { Admin } from 'kafkajs';
import type { KafkaClient } from '../kafka/client.js';
import { chunkByBytes, createProducer, type Producer } from '../kafka/producer.js';
import type { OutgoingRecord } from '../kafka/records.js';
import type { Pending } from './emitter.js';
import type { PartitionState } from './executor.js';
import type { SequencerStore } from './store.js';

export interface SequencerCommitterOptions {
  readonly kafka: KafkaClient;
  readonly store: SequencerStore;
  readonly groupId: string;
  readonly input: string;
  readonly output: string;
  readonly dlqTopic: string;
  /** Retries a step until it succeeds; rejects with AbandonedError when the role stops. */
  readonly retry: <T>(what: string, step: () => Promise<T>) => Promise<T>;
}

interface PartitionPosition {
  readonly partition: number;
  readonly position: bigint;
}

export class SequencerCommitter {
  /** Flush tokens: `<random per process>.<counter>`, never reused, so an aborted flush's token never gets marked. */
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenCounter = 0;
  private producer: Producer | undefined;
  private admin: Admin | undefined;

  constructor(private readonly options: SequencerCommitterOptions) {}

  async start(): Promise<void> {
    const { kafka, groupId } = this.options;
    // A fresh transactional id per process, like the router's (no KIP-447 in kafkajs).
    this.producer = await createProducer(kafka, { transactionalId: `${groupId}-${this.tokenPrefix}` });
    this.admin = kafka.admin();
    await this.admin.connect();
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
      const offsets = await this.admin!.fetchOffsets({ groupId, topics: [input] });
      const metadata = offsets.find((o) => o.topic === input)?.partitions.find((p) => p.partition === partition)?.metadata;
      if (metadata) await store.markCommitted([metadata]);
    });
    try {
      await state.repaired;
    } catch (error) {
      state.repaired = undefined;
      throw error;
    }
  }

  /** Makes `pending` durable (see the file comment), retrying the same flush until it succeeds. */
  async flush(pending: Pending, partitions: ReadonlyMap<number, PartitionState>): Promise<void> {
    const { store, retry } = this.options;
    const offsets: PartitionPosition[] = [];
    for (const partitionNo of pending.partitions) {
      const state = partitions.get(partitionNo);
      const position = state?.progress.commitPosition();
      if (position !== undefined && (state!.progress.pendingCommit() !== undefined || pending.snapshots.size > 0)) offsets.push({ partition: partitionNo, position });
    }
    const records = new Map<string, OutgoingRecord[]>();
    if (pending.outputs.length > 0) records.set(this.options.output, pending.outputs);
    if (pending.deadLetters.length > 0) records.set(this.options.dlqTopic, pending.deadLetters);
    if (records.size === 0 && pending.snapshots.size === 0 && offsets.length === 0) return;
    this.tokenCounter += 1;
    const token = `${this.tokenPrefix}.${this.tokenCounter}`;
    await retry('writing sequencer snapshots', () => store.write(token, pending.snapshots));
    await retry('committing the sequenced output', () => this.transact(records, offsets, token));
    await retry('marking a sequencer flush committed', () => store.markCommitted([token]));
    for (const { partition, position } of offsets) partitions.get(partition)?.progress.markCommitted(position);
  }

  private async transact(records: ReadonlyMap<string, readonly OutgoingRecord[]>, offsets: readonly PartitionPosition[], token: string): Promise<void> {
    const { groupId, input, kafka } = this.options;
    const transaction = await this.producer!.transaction();
    try {
      for (const topicMessages of chunkByBytes(records)) await transaction.sendBatch({ acks: -1, topicMessages });
      if (offsets.length > 0) {
        await transaction.sendOffsets({
          consumerGroupId: groupId,
          topics: [{ topic: input, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.position.toString(), metadata: token })) }],
        });
      }
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined); // the original error is what matters; the broker times an unaborted transaction out
      // A fenced or broken transactional producer cannot begin again: start a fresh one.
      await this.producer!.disconnect().catch(() => undefined);
      this.producer = await createProducer(kafka, { transactionalId: `${groupId}-${this.tokenPrefix}-${token}` });
      throw error;
    }
  }
}
