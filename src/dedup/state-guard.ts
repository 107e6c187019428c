/**
 * Watches one topology's epoch key (see epoch.ts) for a process: arms at start, checks the
 * value each Redis lookup read in its own round trip (`verify`), re-checks after every
 * reconnect, and while the state is lost: logs one error naming the topology and the key
 * families lost, sets `flowyard_redis_state_lost`, makes /readyz unready, and polls for the
 * epoch `flowyard state recover` writes. Lookups throw StateLostError meanwhile, so every
 * role's batch waits in its retry loop: nothing is routed, written or committed on the
 * strength of state Redis no longer has.
 *
 * One guard per Redis connection and topology, shared by the stores of all plans of that
 * topology (a hot reload keeps it). A guard that was never armed checks nothing: stores
 * used outside `run` (tests, tools) behave as before.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { KafkaPort } from '../kafka/port.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Plan } from '../topology/plan.js';
import { STATE_KEY_FAMILIES, StateLostError, judgeAtStart, judgeRunning, type EpochVerdict } from './epoch.js';
import { topologyKeyPrefix } from './keys.js';

/** How often a guard whose state is lost looks for the epoch a recovery writes, ms. */
const RECOVERY_POLL_MS = 2_000;
/** How often the loss is logged again while it lasts, ms: one line at the start is easy to miss. */
const REMINDER_MS = 60_000;

export function epochKey(topology: string): string {
  return `${topologyKeyPrefix(topology)}:epoch`;
}

/** A new epoch value: when it was written, and a random id. */
export function newEpoch(now: Date = new Date()): string {
  return `${now.toISOString()}/${randomUUID()}`;
}

/** Whether the router group of `plan` has committed source offsets: events were routed before. */
export async function routedBefore(kafka: KafkaPort, plan: Plan): Promise<boolean> {
  const admin = kafka.admin();
  try {
    const offsets = await admin.committedOffsets(plan.groups.router, plan.source.topics);
    return offsets.some((p) => Number(p.offset) >= 0);
  } finally {
    await admin.disconnect();
  }
}

/** The verdict a process starting now would reach (for commands that use the state outside `run`). */
export async function stateVerdict(plan: Plan, clients: { kafka: KafkaPort; redis: Redis }): Promise<EpochVerdict> {
  const stored = await clients.redis.get(epochKey(plan.name));
  return judgeAtStart(stored, stored === null && (await routedBefore(clients.kafka, plan)));
}

interface Reporting {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

const guards = new WeakMap<Redis, Map<string, StateGuard>>();

export class StateGuard {
  readonly key: string;
  private known: string | undefined;
  private lostReason: string | undefined;
  private reporting: Reporting | undefined;
  private poll: NodeJS.Timeout | undefined;
  private lastReminder = 0;
  /** Plans armed through this guard: the gauge carries each plan id, like every flowyard series. */
  private readonly plans = new Set<string>();

  private constructor(
    private readonly redis: Redis,
    readonly topology: string,
  ) {
    this.key = epochKey(topology);
    // A reconnect is when an empty Redis shows up (a restart without persistence): check at once.
    redis.on('ready', () => {
      if (this.known !== undefined) void this.recheck();
    });
  }

  /** The guard of `topology` on this connection. */
  static of(redis: Redis, topology: string): StateGuard {
    let byTopology = guards.get(redis);
    if (byTopology === undefined) guards.set(redis, (byTopology = new Map()));
    let guard = byTopology.get(topology);
    if (guard === undefined) byTopology.set(topology, (guard = new StateGuard(redis, topology)));
    return guard;
  }

  /** Every guard on this connection (the readiness check asks them all). */
  static all(redis: Redis): StateGuard[] {
    return [...(guards.get(redis)?.values() ?? [])];
  }

  /** The epoch lookups must find; undefined while not armed (then nothing is checked). */
  get expected(): string | undefined {
    return this.known;
  }

  /** Why the state counts as lost; undefined while it is there. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /**
   * At start: adopts the stored epoch, writes one on a first run, or reports the loss (the
   * roles then start and wait). Repeating it (a hot reload) only re-checks.
   */
  async arm(options: Reporting & { kafka: KafkaPort; plan: Plan }): Promise<void> {
    this.reporting ??= { logger: options.logger, metrics: options.metrics };
    this.plans.add(options.plan.id);
    this.report();
    if (this.known !== undefined) return this.recheck();
    const stored = await this.redis.get(this.key);
    const verdict = judgeAtStart(stored, stored === null && (await routedBefore(options.kafka, options.plan)));
    if (verdict.kind === 'first-run') {
      // Processes starting together race here; NX keeps the first epoch and every one reads it back.
      await this.redis.set(this.key, newEpoch(), 'NX');
      this.known = (await this.redis.get(this.key)) ?? undefined;
      if (this.known === undefined) return this.markLost('the epoch key vanished right after it was written');
      options.logger.info({ topology: this.topology, epoch: this.known }, 'first run of this topology on this Redis: epoch written');
      return;
    }
    if (verdict.kind === 'armed') {
      this.known = verdict.epoch;
      return;
    }
    this.known = '';
    this.markLost(verdict.reason);
  }

  /** Checks the epoch a lookup read (null: missing); throws StateLostError while the state is lost. */
  verify(stored: string | null): void {
    if (this.known === undefined) return;
    const verdict = judgeRunning(this.known, stored);
    if (verdict.kind === 'lost') {
      this.markLost(verdict.reason);
      throw new StateLostError(this.topology, verdict.reason);
    }
    if (verdict.epoch !== this.known || this.lostReason !== undefined) this.adopt(verdict.epoch);
  }

  /** Reads the epoch on its own; used after a reconnect and while waiting for a recovery. */
  async recheck(): Promise<void> {
    try {
      this.verify(await this.redis.get(this.key));
    } catch (error) {
      if (!(error instanceof StateLostError)) this.reporting?.logger.warn({ err: error, topology: this.topology }, 'checking the Redis state epoch failed; will retry');
    }
  }

  private adopt(epoch: string): void {
    const wasLost = this.lostReason !== undefined;
    this.known = epoch;
    this.lostReason = undefined;
    clearInterval(this.poll);
    this.poll = undefined;
    this.report();
    this.reporting?.logger.warn(
      { topology: this.topology, epoch },
      wasLost ? 'Redis state re-armed (flowyard state recover ran): roles resume' : 'Redis state epoch changed (flowyard state recover ran): adopting it',
    );
  }

  private report(): void {
    for (const plan of this.plans) this.reporting?.metrics.redisStateLost.set({ topology: this.topology, plan }, this.lostReason === undefined ? 0 : 1);
  }

  private markLost(reason: string): void {
    const first = this.lostReason === undefined;
    this.lostReason = reason;
    const now = Date.now();
    if (first || now - this.lastReminder >= REMINDER_MS) {
      this.lastReminder = now;
      this.reporting?.logger.error(
        { topology: this.topology, reason, lostKeyFamilies: STATE_KEY_FAMILIES, recovery: 'flowyard state recover <topology file>' },
        `Redis lost flowyard's state of topology ${this.topology} (${reason}). Routing, writes and commits of this topology wait: ` +
          'going on would route re-sent ids again and write re-delivered events twice. Recover with `flowyard state recover <topology file>` (README: When Redis loses flowyard state)',
      );
    }
    if (!first) return;
    this.report();
    this.poll = setInterval(() => void this.recheck(), RECOVERY_POLL_MS);
    this.poll.unref();
  }
}
