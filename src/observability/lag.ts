/**
 * Consumer lag per group and partition (`flowyard_consumer_lag`): high watermark minus the
 * group's committed offset, read through one Kafka admin connection every `intervalMs`.
 * Reading offsets is a few broker round trips per group, so it runs on a timer rather than
 * on every scrape. A failed pass is logged and the next one tries again: lag is for people
 * and autoscalers, never a reason to stop the pipeline.
 */
import type { KafkaAdmin, KafkaPort } from '../kafka/port.js';
import type { Plan, PlanRole } from '../topology/plan.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** One consumer group whose lag is reported, with the plan labels its series carry. */
export interface LagTarget {
  readonly topology: string;
  readonly plan: string;
  readonly group: string;
  readonly topics: readonly string[];
}

/**
 * The groups of `plan`'s roles that `include` keeps (by default all of them), one target per
 * group and plan; a rollout's second plan is reported under its own plan id.
 */
export function lagTargets(plan: Plan, include: (role: PlanRole) => boolean = () => true): LagTarget[] {
  const own = plan.roles.filter(include).map((role) => ({ topology: plan.name, plan: plan.id, group: role.group, topics: role.consumes }));
  // Its compensation topics are the first plan's own: only its destination inputs are its own.
  const ownTopics = new Set(own.flatMap((target) => target.topics));
  const rolloutWorkers =
    plan.rollout === undefined ? [] : lagTargets(plan.rollout.plan, (role) => role.role === 'worker' && include(role) && !role.consumes.some((t) => ownTopics.has(t)));
  return [...own, ...rolloutWorkers];
}

/** A partition's offsets as the admin client reports them (strings, since they may exceed 2^53). */
export interface PartitionOffsets {
  readonly low: string;
  readonly high: string;
}

/**
 * Records the group has not committed yet. A group with no commit (`-1`) owes everything
 * still retained (from `low`); a commit below `low` (records deleted by retention) owes
 * only what is left.
 */
export function partitionLag(offsets: PartitionOffsets, committed: string): number {
  const high = BigInt(offsets.high);
  const low = BigInt(offsets.low);
  const from = committed === '-1' || committed === '' ? low : BigInt(committed) < low ? low : BigInt(committed);
  return Number(high > from ? high - from : 0n);
}

/** Every 10 s: lag changes by whole batches, and Prometheus scrapes every 15-30 s. */
const DEFAULT_INTERVAL_MS = 10_000;

type LagLabels = { topology: string; plan: string; group: string; topic: string; partition: string };

export class LagCollector {
  private admin: KafkaAdmin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Series set by the last pass, so a plan or partition that went away stops being reported. */
  private reported = new Map<string, LagLabels>();

  constructor(
    private readonly options: {
      readonly kafka: KafkaPort;
      readonly metrics: Metrics;
      readonly logger: Logger;
      /** Asked on every pass: a hot reload changes the running plan. */
      readonly targets: () => readonly LagTarget[];
      readonly intervalMs?: number;
    },
  ) {}

  /** Collects at once, then every interval, until `stop`. */
  start(): void {
    this.stopped = false;
    this.tick();
  }

  /** One pass over every target; resolves when done, whether it succeeded or not (failures are logged). */
  collect(): Promise<void> {
    this.running ??= this.collectOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch((err: unknown) => this.options.logger.warn({ err }, 'closing the lag admin client failed'));
  }

  private tick(): void {
    void this.collect().then(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.options.intervalMs ?? DEFAULT_INTERVAL_MS).unref();
    });
  }

  private async collectOnce(): Promise<void> {
    const { metrics, logger } = this.options;
    try {
      this.admin ??= this.options.kafka.admin();
      const admin = this.admin;
      const seen = new Map<string, LagLabels>();
      const watermarks = new Map<string, Map<number, PartitionOffsets>>();
      const existing = new Set(await admin.listTopics());
      for (const target of this.options.targets()) {
        const topics = target.topics.filter((t) => existing.has(t));
        if (topics.length === 0) continue;
        for (const topic of topics) {
          if (!watermarks.has(topic)) watermarks.set(topic, new Map((await admin.watermarks(topic)).map((o) => [o.partition, { low: o.low, high: o.high }])));
        }
        for (const { topic, partition, offset } of await admin.committedOffsets(target.group, topics)) {
          const offsets = watermarks.get(topic)?.get(partition);
          if (offsets === undefined) continue;
          const labels: LagLabels = { topology: target.topology, plan: target.plan, group: target.group, topic, partition: String(partition) };
          metrics.consumerLag.set(labels, partitionLag(offsets, offset));
          seen.set(JSON.stringify(labels), labels);
        }
      }
      for (const [id, labels] of this.reported) if (!seen.has(id)) metrics.consumerLag.remove(labels);
      this.reported = seen;
    } catch (err) {
      // Reconnect next pass: the broker may have closed the connection.
      const admin = this.admin;
      this.admin = undefined;
      void admin?.disconnect().catch(() => undefined); // the pass's own error is the one reported
      logger.warn({ err }, 'reading consumer lag failed; trying again at the next interval');
    }
  }
}
