/**
 * The port's GroupConsumer on @platformatic/kafka: the library's Consumer keeps the group
 * membership (JoinGroup/SyncGroup with flowyard's subscription-aware assignor, heartbeats on a
 * timer of their own, rejoining after a rebalance, commits, LeaveGroup on close); fetching is
 * flowyard's own loop over the library's Fetch (see fetcher.ts), so that batches are one
 * partition's records in offset order, partitions pause and resume one by one, and offsets that
 * hold only transaction markers are reported.
 *
 * Per partition at most one batch is buffered or being handled; the partition is fetched again
 * once it is done, so batches of a partition are handed over one after another. As with kafkajs,
 * the member rejoins a rebalancing group only after the batches in hand finished (the library
 * asks `protocolsMetadata` before every JoinGroup; that hook waits): a transaction of a
 * partition about to move commits under the old generation before the next owner reads the
 * committed offset, so no batch is written twice. After every rebalance every assigned
 * partition restarts at its committed offset (none: the log start, or the end when
 * fromBeginning is false), as the kafkajs consumer does, read stable (KIP-447: a transaction's
 * offsets count once its commit completed).
 */
import { Consumer, kGetApi, type API, type ConsumerGroupJoinPayload, type ExtendedGroupProtocolSubscription, type GroupAssignment, type GroupPartitionsAssignments, type ClusterMetadata, type offsetFetchV9 } from '@platformatic/kafka';
import type { KafkaConnection } from '../../config/env.js';
import type { Logger } from '../../observability/logger.js';
import { assignBySubscription, SUBSCRIPTION_AWARE_ASSIGNER } from '../assignment.js';
import type { BatchControls, GroupConsumer, GroupConsumerOptions, TopicPartitions } from '../port.js';
import { nextOffset, type ConsumedRecord, type TopicPartitionOffset } from '../records.js';
import { baseOptions, explain, findIn, type ConnectionCheck } from './connection.js';
import { Fetcher, type PartitionPosition, type PartitionResult } from './fetcher.js';

/** How long the broker may hold a fetch waiting for data, ms: a partition that was busy when the round started waits at most this long. */
const MAX_WAIT_MS = 250;
/** Pause before a partition whose fetch or batch failed is tried again, ms. */
const RETRY_AFTER_MS = 1_000;
/** Bounds the sleep of a fetch loop with nothing to fetch, ms; a resume, a finished batch or a rebalance wakes it earlier. */
const IDLE_WAIT_MS = 500;
/** ms the member has to send its JoinGroup once a rebalance began; the broker drops it from the group after. */
const REBALANCE_TIMEOUT_MS = 60_000;
/** How long a rejoin waits for the batches in hand, ms: well inside REBALANCE_TIMEOUT_MS, so a handler that never ends cannot cost the membership. */
const DRAIN_BEFORE_REJOIN_MS = 30_000;

/** Pause before reading committed offsets again while a transaction holding some of them is not yet complete, ms. */
const UNSTABLE_WAIT_MS = 50;

const key = (topic: string, partition: number) => `${topic}:${partition}`;

type OffsetFetchApi = API<[groups: offsetFetchV9.OffsetFetchRequestGroup[], requireStable: boolean], offsetFetchV9.OffsetFetchResponse>;

/** The group membership an assignment was handed out under: what a TxnOffsetCommit for its partitions must carry (KIP-447). */
export interface Membership {
  readonly generationId: number;
  readonly memberId: string;
}

/** Thrown by sendOffsets for a partition this member no longer owns, and by a batch's heartbeat once its assignment ended. */
export class RevokedError extends Error {}

/**
 * Per topic, its partitions go round-robin over the members subscribed to it (assignment.ts): a
 * member never gets a topic it does not read, also when members of one group read different
 * topics. The library hands the leader every member's subscription and the metadata of all.
 */
export function subscriptionAwareAssigner(_self: string, members: Map<string, ExtendedGroupProtocolSubscription>, _topics: Set<string>, metadata: ClusterMetadata): GroupPartitionsAssignments[] {
  const subscriptions = [...members.values()].map((m) => ({ memberId: m.memberId, topics: m.topics ?? [] }));
  const partitionsOf: Record<string, number[]> = {};
  for (const topic of new Set(subscriptions.flatMap((s) => s.topics))) {
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    partitionsOf[topic] = Array.from({ length: count }, (_, i) => i);
  }
  const assignment = assignBySubscription(subscriptions, partitionsOf);
  return subscriptions.map(({ memberId }) => ({
    memberId,
    assignments: new Map(Object.entries(assignment[memberId] ?? {}).map(([topic, partitions]) => [topic, { topic, partitions }])),
  }));
}

interface Batch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumedRecord[];
  /** Last offset covered (markers included). */
  readonly lastOffset: bigint;
  /** The fetch position the batch started at: where a failed batch is fetched again. */
  readonly from: bigint;
  readonly generation: number;
}

export class PlatformaticGroupConsumer implements GroupConsumer {
  /** The library's consumer: the transaction's sendOffsets reads its generation, member id and coordinator. */
  readonly consumer: Consumer;
  private readonly fetcher: Fetcher;
  private running = false;
  private stopped = false;
  /** Bumped by every rebalance: a fetch or a batch of an older assignment is dropped. */
  private generation = 0;
  private assignment: GroupAssignment[] = [];
  /** Next offset to fetch per assigned partition; absent until its committed offset is known. */
  private readonly positions = new Map<string, bigint>();
  /** Fetched, waiting for a free handler (or for a resume). */
  private readonly buffered = new Map<string, Batch>();
  private readonly handling = new Set<string>();
  private readonly paused = new Set<string>();
  private readonly retryAt = new Map<string, number>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly handlers = new Set<Promise<void>>();
  /** Batches whose handler is running (their after-batch commit not counted: it may itself need the rejoin). */
  private processing = 0;
  private readonly drained: (() => void)[] = [];
  /** Between a rejoin's start and its assignment: nothing new is fetched or handed over. */
  private rebalancing = false;
  /** The group's generation and member id of the current assignment (not the library's, which a JoinGroup in progress already moved on). */
  private membership: Membership | undefined;

  constructor(
    private readonly options: GroupConsumerOptions,
    connection: KafkaConnection,
    clientId: string,
    private readonly check: ConnectionCheck,
    private readonly logger: Logger,
  ) {
    const base = baseOptions(connection, clientId);
    this.consumer = new Consumer({
      ...base,
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000, // ms
      rebalanceTimeout: Math.max(REBALANCE_TIMEOUT_MS, options.sessionTimeoutMs ?? 30_000),
      heartbeatInterval: 3_000, // ms
      // The kafkajs backend's protocol name and version: members of both backends can share a group.
      protocols: [{ name: SUBSCRIPTION_AWARE_ASSIGNER, version: 0 }],
      partitionAssigner: subscriptionAwareAssigner,
      // Called before every JoinGroup (the first, and every rejoin): no user data, but first the batches in hand finish.
      protocolsMetadata: () => this.beforeJoin(),
      autocommit: false,
    });
    this.fetcher = new Fetcher(this.consumer, { maxWaitMs: MAX_WAIT_MS, maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576 }, base);
    this.consumer.on('consumer:group:join', (payload) => this.onJoin(payload));
    this.consumer.on('consumer:heartbeat:error', ({ error }) => this.logger.debug({ group: options.groupId, err: error }, 'heartbeat failed; the library retries or rejoins'));
    // The library emits 'error' when its own rejoin after a rebalance ran out of retries; left alone, the member would sit outside the group.
    this.consumer.on('error', (error: Error) => {
      this.logger.error({ group: options.groupId, err: error }, `rejoining the group failed (${explain(error)}); trying again`);
      void this.rejoin();
    });
  }

  private rejoining = false;

  private async rejoin(): Promise<void> {
    if (this.rejoining) return;
    this.rejoining = true;
    try {
      while (this.running && !this.stopped) {
        await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
        try {
          await this.consumer.joinGroup({});
          return;
        } catch (error) {
          this.logger.error({ group: this.groupId, err: error }, `rejoining the group failed (${explain(error as Error)}); trying again`);
        }
      }
    } finally {
      this.rejoining = false;
    }
  }

  get groupId(): string {
    return this.options.groupId;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error(`consumer of group ${this.groupId} was disconnected; it does not start again`);
    this.consumer.topics.trackAll(...this.options.topics);
    this.running = true;
    await this.check.run(() => this.consumer.joinGroup({}));
    this.loop = this.fetchLoop().catch((error: unknown) => {
      this.logger.error({ group: this.groupId, err: error }, 'fetch loop failed; the consumer stopped fetching');
    });
  }

  /** Before a JoinGroup: stop handing over, let the batches in hand finish (bounded), then join. */
  private async beforeJoin(): Promise<Buffer> {
    this.rebalancing = true;
    this.buffered.clear(); // fetched under the assignment that is ending; fetched again after it
    if (this.processing > 0) {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => this.drained.push(() => resolve(true))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DRAIN_BEFORE_REJOIN_MS))),
      ]);
      clearTimeout(timer);
      if (drained) this.logger.debug({ group: this.groupId, waitedMs: Date.now() - started }, 'batches in hand finished; rejoining the group');
      else this.logger.warn({ group: this.groupId, inHand: this.processing }, `batches still in hand after ${DRAIN_BEFORE_REJOIN_MS / 1000} s; rejoining the group anyway`);
    }
    return Buffer.alloc(0);
  }

  private onJoin(payload: ConsumerGroupJoinPayload): void {
    this.rebalancing = false;
    const generation = ++this.generation;
    this.membership = { generationId: payload.generationId ?? -1, memberId: payload.memberId };
    this.assignment = (payload.assignments ?? []).map((a) => ({ topic: a.topic, partitions: [...a.partitions].sort((x, y) => x - y) }));
    this.positions.clear();
    this.buffered.clear();
    this.retryAt.clear();
    const assignment: TopicPartitions[] = this.assignment.map((a) => ({ topic: a.topic, partitions: a.partitions }));
    this.logger.info({ group: this.groupId, assignment, generation: payload.generationId }, 'partitions assigned');
    this.options.onAssignment?.(assignment);
    void this.resolvePositions(generation);
  }

  /**
   * The generation and member id a TxnOffsetCommit of `offsets` carries: those of the assignment
   * the batches were handed out under. A partition this member no longer owns is refused here
   * (the transaction aborts), and a stale generation is refused by the broker (ILLEGAL_GENERATION),
   * so a batch of a partition that moved never commits under its next owner's generation.
   */
  membershipFor(offsets: readonly { readonly topic: string; readonly partition: number }[]): Membership {
    const owned = new Set(this.assignment.flatMap((a) => a.partitions.map((p) => key(a.topic, p))));
    const lost = offsets.filter((o) => !owned.has(key(o.topic, o.partition)));
    if (this.membership === undefined || lost.length > 0) {
      const which = lost.map((o) => `${o.topic} partition ${o.partition}`).join(', ') || 'its partitions';
      throw new RevokedError(`group ${this.groupId}: ${which} no longer assigned to this member (a rebalance moved it); the transaction must abort`);
    }
    return this.membership;
  }

  /**
   * The group's committed offsets with require_stable (KIP-447): a partition whose offsets a
   * transaction committed but whose commit marker has not reached the group yet is answered
   * UNSTABLE_OFFSET_COMMIT instead of with the offset before it, which the library's
   * listCommittedOffsets would return (it never sets require_stable). Without it the next owner
   * of a partition can start where the previous owner's last transaction began: written twice.
   */
  private async stableCommittedOffsets(topics: readonly GroupAssignment[]): Promise<Map<string, bigint>> {
    const api = await new Promise<OffsetFetchApi>((resolve, reject) =>
      this.consumer[kGetApi]<Parameters<OffsetFetchApi['async']> extends [unknown, ...infer A] ? A : never, offsetFetchV9.OffsetFetchResponse>('OffsetFetch', (error, found) =>
        error ? reject(error) : resolve(found as OffsetFetchApi),
      ),
    );
    if (api.version < 8) throw new Error(`the broker answers OffsetFetch only up to v${api.version}; KAFKA_CLIENT=platformatic needs v8 (Kafka 3.0 or newer)`);
    const coordinator = await this.consumer.findGroupCoordinator();
    const broker = (await this.consumer.metadata({ topics: [] })).brokers.get(coordinator);
    if (broker === undefined) throw new Error(`group coordinator ${coordinator} of ${this.groupId} is not among the brokers the cluster lists`);
    const connection = await this.consumer.connections.get(broker);
    const request = [{ groupId: this.groupId, memberId: null, memberEpoch: -1, topics: topics.map((a) => ({ name: a.topic, partitionIndexes: [...a.partitions] })) }];
    const response = await api.async(connection, request, true);
    const committed = new Map<string, bigint>();
    for (const group of response.groups) {
      for (const topic of group.topics) for (const p of topic.partitions) committed.set(key(topic.name, p.partitionIndex), p.committedOffset);
    }
    return committed;
  }

  /** Committed offsets of the new assignment, else the log start (or end); retried until known or superseded. */
  private async resolvePositions(generation: number): Promise<void> {
    const topics = this.assignment.filter((a) => a.partitions.length > 0);
    while (generation === this.generation && !this.stopped && topics.length > 0) {
      try {
        const committed = await this.stableCommittedOffsets(topics);
        const missing = topics.map((a) => ({ topic: a.topic, partitions: a.partitions.filter((p) => (committed.get(key(a.topic, p)) ?? -1n) < 0n) })).filter((a) => a.partitions.length > 0);
        const fallback = missing.length === 0 ? new Map<string, bigint[]>() : await this.consumer.listOffsets({
          topics: missing.map((a) => a.topic),
          partitions: Object.fromEntries(missing.map((a) => [a.topic, a.partitions])),
          timestamp: (this.options.fromBeginning ?? true) ? -2n : -1n, // ListOffsets: -2 earliest, -1 latest
        });
        if (generation !== this.generation) return;
        for (const { topic, partitions } of topics) {
          for (const partition of partitions) {
            const offset = committed.get(key(topic, partition)) ?? -1n;
            this.positions.set(key(topic, partition), offset >= 0n ? offset : fallback.get(topic)![partition]!);
          }
        }
        this.wake?.();
        return;
      } catch (error) {
        if (findIn(error, 'apiId', 'UNSTABLE_OFFSET_COMMIT') !== undefined) {
          // A transaction that committed offsets of these partitions is completing: its marker arrives within moments.
          this.logger.debug({ group: this.groupId }, 'committed offsets wait for a transaction to complete; reading them again');
          await new Promise((resolve) => setTimeout(resolve, UNSTABLE_WAIT_MS));
          continue;
        }
        this.logger.warn({ group: this.groupId, err: error }, `reading the group's committed offsets failed (${explain(error as Error)}); trying again`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
      }
    }
  }

  private fetchable(now: number): PartitionPosition[] {
    const positions: PartitionPosition[] = [];
    if (this.rebalancing) return positions;
    for (const { topic, partitions } of this.assignment) {
      for (const partition of partitions) {
        const k = key(topic, partition);
        const offset = this.positions.get(k);
        if (offset === undefined || this.paused.has(k) || this.buffered.has(k) || this.handling.has(k)) continue;
        if ((this.retryAt.get(k) ?? 0) > now) continue;
        positions.push({ topic, partition, offset });
      }
    }
    return positions;
  }

  private async fetchLoop(): Promise<void> {
    while (this.running) {
      const wanted = this.fetchable(Date.now());
      if (wanted.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, IDLE_WAIT_MS);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      const generation = this.generation;
      const results = await this.fetcher.fetch(wanted);
      if (!this.running || generation !== this.generation || this.rebalancing) continue;
      for (const result of results) this.take(result, generation);
      this.dispatch();
    }
  }

  private take(result: PartitionResult, generation: number): void {
    const { topic, partition, offset } = result.position;
    const k = key(topic, partition);
    if (this.positions.get(k) !== offset) return; // moved meanwhile (a failed batch going back)
    if (result.kind === 'failed') {
      this.retryAt.set(k, Date.now() + RETRY_AFTER_MS);
      this.logger.warn({ group: this.groupId, topic, partition, offset: offset.toString(), err: result.error }, `fetching failed (${explain(result.error)}); trying again`);
      return;
    }
    if (result.kind === 'out-of-range') {
      // Kafka's auto.offset.reset: earliest unless the owner asked for new records only.
      const reset = (this.options.fromBeginning ?? true) ? result.logStart : result.highWatermark;
      this.logger.warn({ group: this.groupId, topic, partition, offset: offset.toString(), reset: reset.toString() }, 'fetch position out of range (records deleted by retention?); resetting');
      this.positions.set(k, reset);
      return;
    }
    const { records, lastOffset } = result.fetch;
    if (lastOffset === undefined) return;
    this.positions.set(k, lastOffset + 1n);
    if (records.length === 0) {
      // Only transaction markers (or aborted records): nothing to hand over, but the owner may commit past them.
      this.options.onSkipped?.(topic, partition, offset.toString(), lastOffset.toString());
      return;
    }
    this.buffered.set(k, { topic, partition, records, lastOffset, from: offset, generation });
  }

  /** Starts buffered batches of partitions not paused, up to partitionsConsumedConcurrently at once, oldest first. */
  private dispatch(): void {
    const concurrency = this.options.partitionsConsumedConcurrently ?? 1;
    if (this.rebalancing) return;
    for (const [k, batch] of this.buffered) {
      if (this.handling.size >= concurrency) return;
      if (this.paused.has(k) || this.handling.has(k)) continue;
      this.buffered.delete(k);
      this.handling.add(k);
      const handled = this.handle(batch).finally(() => {
        this.handling.delete(k);
        this.handlers.delete(handled);
        this.dispatch();
        this.wake?.();
      });
      this.handlers.add(handled);
    }
  }

  private async handle(batch: Batch): Promise<void> {
    const { topic, partition, records, lastOffset } = batch;
    const controls: BatchControls = {
      // The library heartbeats on its own timer, independent of how long a batch takes. As kafkajs'
      // heartbeat, this one rejects once the group rebalances, so a handler retrying a failed
      // transaction stops and lets the rejoin go on; the batch is fetched again from the committed offset.
      heartbeat: () =>
        this.rebalancing || batch.generation !== this.generation
          ? Promise.reject(new RevokedError(`group ${this.groupId} is rebalancing; ${topic} partition ${partition}'s batch is fetched again from its committed offset`))
          : Promise.resolve(),
      isRunning: () => this.running && batch.generation === this.generation,
      lastOffset: () => lastOffset.toString(),
    };
    try {
      this.processing++;
      try {
        await this.options.handleBatch(records, controls);
      } finally {
        if (--this.processing === 0) for (const resolve of this.drained.splice(0)) resolve();
      }
      const lastRecord = records[records.length - 1]!.offset;
      if (lastOffset > BigInt(lastRecord)) this.options.onSkipped?.(topic, partition, nextOffset(lastRecord), lastOffset.toString());
      if (this.options.commitMode === 'after-batch') await this.commit([{ topic, partition, offset: (lastOffset + 1n).toString() }]);
    } catch (error) {
      // Handed over again from its first offset, as kafkajs re-delivers a batch whose handler threw.
      const k = key(topic, partition);
      if (batch.generation === this.generation && this.running) {
        this.positions.set(k, batch.from);
        this.retryAt.set(k, Date.now() + RETRY_AFTER_MS);
      }
      this.logger.error({ group: this.groupId, topic, partition, offset: records[0]!.offset, err: error }, 'handling a batch failed; it is fetched and handed over again');
    }
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.consumer.commit({ offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset: BigInt(offset), leaderEpoch: -1 })) });
  }

  pause(partitions: readonly TopicPartitions[]): void {
    for (const { topic, partitions: list } of partitions) for (const partition of list) this.paused.add(key(topic, partition));
  }

  resume(partitions: readonly TopicPartitions[]): void {
    for (const { topic, partitions: list } of partitions) for (const partition of list) this.paused.delete(key(topic, partition));
    this.dispatch();
    this.wake?.();
  }

  stopFetching(): void {
    this.running = false;
    this.buffered.clear();
    this.wake?.();
  }

  async disconnect(): Promise<void> {
    this.stopFetching();
    this.stopped = true;
    await this.loop;
    // As kafkajs' disconnect: the batches in hand end first (their handlers see isRunning() false).
    await Promise.allSettled([...this.handlers]);
    try {
      // Leaves the group (LeaveGroup), so its partitions move to the other members at once.
      await this.consumer.close();
    } finally {
      await this.fetcher.close();
    }
  }
}
