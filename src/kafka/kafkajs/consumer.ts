import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../../observability/logger.js';
import { AbandonedError, sleep } from '../../resilience/abort.js';
import { retryForever } from '../../resilience/retry.js';
import type { BatchControls, GroupConsumer, GroupConsumerOptions, TopicPartitions } from '../port.js';
import { nextOffset, type TopicPartitionOffset } from '../records.js';
import { subscriptionAwareAssigner } from './assigner.js';
import type { KafkaClient } from './client.js';
import { describeUnreadable, onUnreadableBatches, type UnreadableBatch } from './codecs.js';
import { toConsumedRecord } from './records.js';

/** Pause before rejoining after a crash kafkajs does not restart from: long enough not to spin on a broker that keeps failing. */
const RESTART_AFTER_CRASH_MS = 2_000;
/** Waits between failed rejoins. */
const RESTART_BACKOFF = { initialDelayMs: RESTART_AFTER_CRASH_MS, maxDelayMs: 30_000 } as const;

export interface BatchConsumerOptions extends GroupConsumerOptions {
  readonly kafka: KafkaClient;
  readonly logger: Logger;
}

/** The kafkajs GroupConsumer (port.ts says what it promises). */
export class BatchConsumer implements GroupConsumer {
  private readonly consumer: Consumer;
  private running = false;
  /** kafkajs' run() was called: before it (and after disconnect) kafkajs refuses pause(). */
  private ran = false;
  /** disconnect() was called: nothing may start or restart the consumer after it. */
  private stopped = false;
  /** The start() in progress: disconnect() waits for it, else kafkajs would finish joining after the stop and run on. */
  private starting: Promise<void> | undefined;
  /** Aborted by disconnect(): ends a rejoin's waits. */
  private readonly disconnecting = new AbortController();
  /**
   * The group's own commit, taken from the batch payload. `consumer.commitOffsets` goes
   * through kafkajs' runner, which silently drops commits once stop() began; the final
   * commit of a graceful shutdown happens exactly then, so it must bypass the runner.
   */
  private groupCommit: EachBatchPayload['commitOffsetsIfNecessary'] | undefined;
  /** `topic/partition` -> offset of the unreadable batch last reported, so a batch is reported once. */
  private readonly reportedUnreadable = new Map<string, string>();
  /** Partitions paused at an unreadable batch; resume() leaves them paused. */
  private readonly pausedUnreadable = new Map<string, TopicPartitions>();

  constructor(private readonly options: BatchConsumerOptions) {
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000, // ms
      heartbeatInterval: 3_000, // ms
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576, // 1 MiB: bounds one batch in memory
      allowAutoTopicCreation: false,
      // kafkajs' default is 5 s; after a backpressure pause resumes, the next fetch would idle the writers that long
      maxWaitTimeInMs: 250,
      // kafkajs restarts a crashed consumer after a retriable error, also one that crashed because
      // disconnect() closed its connections mid-fetch: that restarted consumer would rejoin the
      // group and keep the process alive after "stopped". Only a running consumer restarts.
      retry: { retries: 10, restartOnFailure: async () => !this.stopped },
      partitionAssigners: [subscriptionAwareAssigner],
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      // After a rebalance another member may have got past such a batch: fetch again, and pause again if it is still there.
      if (this.pausedUnreadable.size > 0) this.consumer.resume([...this.pausedUnreadable.values()].map((p) => ({ ...p, partitions: [...p.partitions] })));
      this.pausedUnreadable.clear();
      const assignment = Object.entries(event.payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions }));
      options.logger.info({ group: options.groupId, assignment }, 'partitions assigned');
      options.onAssignment?.(assignment);
    });
    // kafkajs resolves batches that hold only markers itself, without calling eachBatch.
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (event) => {
      const { topic, partition, batchSize, firstOffset, lastOffset } = event.payload;
      if (batchSize === 0 && firstOffset !== null && lastOffset !== null) options.onSkipped?.(topic, partition, firstOffset, lastOffset);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      options.logger.error({ group: options.groupId, err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
      // kafkajs restarts itself only after retriable errors; after any other it has left the
      // group for good, and the role would sit idle with its partitions unread.
      if (!event.payload.restart && this.running) this.restartAfterCrash();
    });
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error(`consumer of group ${this.options.groupId} was disconnected; it does not start again`);
    this.starting = this.connectAndRun();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private async connectAndRun(): Promise<void> {
    const { consumer, options } = this;
    // Connections and fetch loops made inside inherit the context: fetches that meet an unreadable batch report here.
    await onUnreadableBatches(
      (batch) => this.onUnreadable(batch),
      async () => {
        await consumer.connect();
        await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true });
        this.running = !this.stopped;
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
          eachBatch: (payload) => this.onBatch(payload),
        });
        this.ran = true;
      },
    );
  }

  /**
   * A batch compressed with a codec this process cannot read: the partition pauses at it (one
   * error per batch, not a crash loop), nothing at or after it is handed over or committed, and
   * the other partitions go on. Restarted with a process that reads the codec, the group
   * resumes at that offset, so no event is skipped. Records before it in the same fetch are
   * handed over first; the next fetch then stands at the batch.
   */
  private onUnreadable(batch: UnreadableBatch): void {
    if (!batch.atFetchStart) return;
    const key = `${batch.topic}/${batch.partition}`;
    this.consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
    this.pausedUnreadable.set(key, { topic: batch.topic, partitions: [batch.partition] });
    if (this.reportedUnreadable.get(key) === batch.offset) return; // paused again after a rebalance: already reported
    this.reportedUnreadable.set(key, batch.offset);
    const { topic, partition, offset, codec, reason } = batch;
    this.options.logger.error(
      { group: this.options.groupId, topic, partition, offset, codec, reason },
      `partition paused: ${describeUnreadable(batch)}; nothing from this offset on is read or committed until a flowyard that can read ${codec} consumes the partition`,
    );
  }

  /**
   * Rejoins the group (a rebalance for the owner: onAssignment reports the new partitions),
   * retrying until it is back or the owner stops it.
   */
  private restartAfterCrash(): void {
    const { logger, groupId } = this.options;
    const rejoin = async (): Promise<void> => {
      // The owner stopped fetching meanwhile: a graceful stop is under way, nothing to rejoin for.
      if (!this.running) throw new AbandonedError();
      logger.warn({ group: groupId }, 'restarting the consumer kafkajs left stopped after a crash');
      this.groupCommit = undefined; // the crashed run's commit handle belongs to a group generation that is gone
      await this.start();
    };
    const { signal } = this.disconnecting;
    sleep(RESTART_AFTER_CRASH_MS, signal)
      .then(() =>
        retryForever(rejoin, {
          signal,
          backoff: RESTART_BACKOFF,
          onRetry: (err, attempt, waitMs) => logger.error({ group: groupId, err, attempt, waitMs }, 'restarting the consumer failed; trying again'),
        }),
      )
      .catch((error: unknown) => {
        // AbandonedError: stopped before the rejoin; retryForever rejects with nothing else.
        if (!(error instanceof AbandonedError)) logger.error({ group: groupId, err: error }, 'restarting the consumer failed for good');
      });
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    this.groupCommit = payload.commitOffsetsIfNecessary;
    if (batch.messages.length === 0) return;
    const records = batch.messages.map((m) => toConsumedRecord(batch.topic, batch.partition, m));
    const controls: BatchControls = {
      heartbeat: () => payload.heartbeat(),
      isRunning: () => this.running && payload.isRunning(),
      lastOffset: () => batch.lastOffset(),
    };
    await this.options.handleBatch(records, controls);
    const lastRecord = records[records.length - 1]!.offset;
    // A batch that ends in a transaction marker: the marker's offset is past the last record.
    if (BigInt(batch.lastOffset()) > BigInt(lastRecord)) this.options.onSkipped?.(batch.topic, batch.partition, nextOffset(lastRecord), batch.lastOffset());
    // Advances the fetch position past the batch; what is committed is decided below or by the owner.
    payload.resolveOffset(batch.lastOffset());
    if (this.options.commitMode === 'after-batch') {
      await this.commit([{ topic: batch.topic, partition: batch.partition, offset: nextOffset(batch.lastOffset()) }]);
    }
  }

  /** Commits `offset` (the next offset to read) per partition. */
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    if (this.groupCommit === undefined) {
      await this.consumer.commitOffsets(offsets.map((o) => ({ ...o })));
      return;
    }
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const { topic, partition, offset } of offsets) {
      const partitions = byTopic.get(topic);
      if (partitions === undefined) byTopic.set(topic, [{ partition, offset }]);
      else partitions.push({ partition, offset });
    }
    await this.groupCommit({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
  }

  pause(partitions: readonly TopicPartitions[]): void {
    this.consumer.pause(partitions.map((p) => ({ topic: p.topic, partitions: [...p.partitions] })));
  }

  /** Resumes `partitions` except those paused at an unreadable batch. */
  resume(partitions: readonly TopicPartitions[]): void {
    const readable = partitions
      .map((p) => ({ topic: p.topic, partitions: p.partitions.filter((partition) => !this.pausedUnreadable.has(`${p.topic}/${partition}`)) }))
      .filter((p) => p.partitions.length > 0);
    if (readable.length > 0) this.consumer.resume(readable);
  }

  /** Stops fetching new batches; the current batch handler may still finish. */
  stopFetching(): void {
    this.running = false;
    // Not started, or already disconnected: nothing is fetching.
    if (this.ran && !this.stopped) this.consumer.pause(this.options.topics.map((topic) => ({ topic })));
  }

  /** Leaves the group and closes connections; call after the final commit. */
  async disconnect(): Promise<void> {
    this.running = false;
    this.stopped = true;
    this.disconnecting.abort();
    await this.starting?.catch(() => undefined);
    // kafkajs' disconnect leaves the group (LeaveGroup), so its partitions move to the other members at once.
    await this.consumer.disconnect();
  }

  get groupId(): string {
    return this.options.groupId;
  }
}
