/**
 * Runs the roles of one topology's current plan and hands over to a new plan when the
 * topology file changes (hot reload), without a restart and without breaking per-key order:
 *
 * 1. the old router, tracker and sequencer stop (gracefully: what they hold is committed);
 * 2. old workers whose input topic the new plan reads too stop before their successor starts
 *    (same topic, same group: one reader at a time);
 * 3. the new plan's roles start. Its router knows the old plan: a key that still has events
 *    in flight there (tracked in Redis, see src/dedup/in-flight.ts) keeps going there, every
 *    other key moves at once; its tracker judges events of either plan;
 * 4. old workers whose input topic the new plan no longer reads (a mode change renames every
 *    destination input) keep running until no key is in flight in the old plan, then stop.
 *    They share consumer groups with the new workers but read other topics; the
 *    subscription-aware assigner (src/kafka/assigner.ts) keeps the two apart.
 *
 * A process may run only some roles (one Deployment per role in Kubernetes): each does its
 * part of the hand-over from the shared Redis state.
 */
import { InFlightKeys } from '../dedup/in-flight.js';
import { AbandonedError } from '../resilience/abort.js';
import { pollUntil } from '../resilience/poll.js';
import type { Plan } from '../topology/plan.js';
import { createRoles, type RoleOverrides, type RoleSelection } from './roles.js';
import type { Role } from './role.js';
import type { SharedClients } from './shared.js';

export interface PlanHostOptions {
  /**
   * How long an old plan may drain before each progress line is an error. Its workers keep
   * running past it: the router still sends a busy key's events to the old plan, and stopping
   * the workers that read them would strand those events (invariant 1).
   */
  readonly drainWarnAfterMs?: number;
  /** How often the old plan's in-flight keys are counted while it drains. */
  readonly drainPollMs?: number;
  readonly overrides?: RoleOverrides;
}

const DEFAULT_DRAIN_WARN_AFTER_MS = 15 * 60_000; // a slow destination's whole retry schedule fits
const DEFAULT_DRAIN_POLL_MS = 500;
const DRAIN_LOG_EVERY_MS = 10_000;

interface Draining {
  readonly plans: readonly Plan[];
  /** Shrinks when a later plan reads one of these topics again and its workers take over. */
  workers: Role[];
  done: Promise<void>;
  readonly abort: AbortController;
}

export class PlanHost implements Role {
  readonly name: string;
  private roles: Role[] = [];
  private current: Plan;
  private readonly draining = new Set<Draining>();
  /** Serialises hand-overs: a second change waits for the first to finish, failed or not. */
  private switching: Promise<void> = Promise.resolve();
  private readonly drainWarnAfterMs: number;
  private readonly drainPollMs: number;

  constructor(
    initial: Plan,
    private readonly shared: SharedClients,
    private readonly selection: RoleSelection,
    private readonly options: PlanHostOptions = {},
  ) {
    this.current = initial;
    this.name = `plan:${initial.name}`;
    this.drainWarnAfterMs = options.drainWarnAfterMs ?? DEFAULT_DRAIN_WARN_AFTER_MS;
    this.drainPollMs = options.drainPollMs ?? DEFAULT_DRAIN_POLL_MS;
  }

  get plan(): Plan {
    return this.current;
  }

  async start(): Promise<void> {
    this.roles = await createRoles(this.current, this.shared, this.selection, this.options.overrides);
    await this.startAll(this.roles);
    this.shared.logger.info({ plan: this.current.id, roles: this.roles.map((r) => r.name) }, 'plan running');
  }

  /** Hands over to `next`; resolves once the new plan's roles run (old workers may still drain). */
  replace(next: Plan): Promise<void> {
    const run = this.switching.catch(() => undefined).then(() => this.handOver(next));
    this.switching = run;
    return run;
  }

  async stop(): Promise<void> {
    await this.switching.catch(() => undefined);
    await this.stopAll(this.roles);
    this.roles = [];
    for (const drain of this.draining) drain.abort.abort();
    await Promise.all([...this.draining].map((d) => d.done));
  }

  private async handOver(next: Plan): Promise<void> {
    const previous = this.current;
    if (next.id === previous.id) return;
    const { logger } = this.shared;
    const targets = new Set([next.id, ...(next.rollout ? [next.rollout.plan.id] : [])]);
    const leftBehind = [previous, ...(previous.rollout ? [previous.rollout.plan] : []), ...[...this.draining].flatMap((d) => d.plans)].filter(
      (plan, i, all) => !targets.has(plan.id) && all.findIndex((p) => p.id === plan.id) === i,
    );
    logger.info({ from: previous.id, to: next.id, draining: leftBehind.map((p) => p.id) }, 'topology changed: handing over to the new plan');
    const nextRoles = await createRoles(next, this.shared, this.selection, this.options.overrides, { draining: leftBehind });

    const nextTopics = new Set(nextRoles.flatMap((r) => (r.inputTopic === undefined ? [] : [r.inputTopic])));
    // Switching back while an earlier hand-over drains: old workers of topics the next plan
    // reads again stop now (gracefully, committing), and the next plan's workers, in the same
    // groups, go on from their offsets; otherwise two of each would share the topics and the
    // drain would wait for a plan that is live again.
    const retaken: Role[] = [];
    for (const drain of this.draining) {
      retaken.push(...drain.workers.filter((w) => w.inputTopic !== undefined && nextTopics.has(w.inputTopic)));
      drain.workers = drain.workers.filter((w) => !retaken.includes(w));
    }
    if (retaken.length > 0) logger.info({ to: next.id, roles: retaken.map((r) => r.name) }, 'the new plan reads topics an older plan still drains: those workers hand over to it');
    await this.stopAll(retaken);
    const oldRoles = this.roles;
    const keep = oldRoles.filter((r) => r.inputTopic !== undefined && !nextTopics.has(r.inputTopic));
    // The router stops first (see stopAll): no new copies in the old plan's shape from here on.
    await this.stopAll(oldRoles.filter((r) => !keep.includes(r)));
    this.roles = [];
    try {
      await this.startAll(nextRoles);
    } catch (error) {
      logger.error({ err: error, from: previous.id, to: next.id }, 'the new plan failed to start; going back to the old plan');
      await this.stopAll(nextRoles);
      await this.stopAll(keep);
      this.roles = await createRoles(previous, this.shared, this.selection, this.options.overrides);
      await this.startAll(this.roles);
      throw error;
    }
    this.roles = nextRoles;
    this.current = next;
    if (keep.length > 0) this.drainInBackground(leftBehind, keep);
    logger.info({ from: previous.id, to: next.id, plan: next.id, roles: nextRoles.map((r) => r.name), draining: keep.map((r) => r.name) }, 'plan switched: the new plan runs');
  }

  /** Stops `workers` once no key is in flight in any of `plans` (or when the host stops). */
  private drainInBackground(plans: readonly Plan[], workers: readonly Role[]): void {
    const { logger, redis } = this.shared;
    const abort = new AbortController();
    const drain = async (): Promise<void> => {
      const inFlight = new InFlightKeys(redis, this.current.name, this.current.dedup.ttlSeconds);
      const started = Date.now();
      let lastLog = started;
      /** True once the old plan is drained or live again; logs progress while it is not. */
      const handedOver = async (): Promise<boolean> => {
        // A plan that is live again (switched back to) is not waited for.
        const live = new Set([this.current.id, ...(this.current.rollout ? [this.current.rollout.plan.id] : [])]);
        const ids = plans.map((p) => p.id).filter((id) => !live.has(id));
        if (ids.length === 0 || entry.workers.length === 0) {
          logger.info({ plans: plans.map((p) => p.id), waitedMs: Date.now() - started }, 'old plan handed over: the current plan reads its topics again');
          return true;
        }
        let busy: number;
        try {
          busy = (await Promise.all(ids.map((id) => inFlight.keysInFlight(id)))).reduce((a, b) => a + b, 0);
        } catch (error) {
          logger.warn({ err: error, draining: ids }, 'counting the old plan\'s in-flight keys failed; trying again');
          busy = -1;
        }
        if (busy === 0) {
          logger.info({ drained: ids, waitedMs: Date.now() - started }, 'old plan drained: no key in flight; its workers stop');
          return true;
        }
        if (Date.now() - lastLog >= DRAIN_LOG_EVERY_MS) {
          lastLog = Date.now();
          const waitedMs = lastLog - started;
          if (waitedMs > this.drainWarnAfterMs) {
            logger.error({ draining: ids, keysInFlight: busy, waitedMs }, 'old plan still draining; its workers keep running so no queued event is stranded (is the tracker running? is a destination down?)');
          } else {
            logger.info({ draining: ids, keysInFlight: busy, waitedMs }, 'old plan draining');
          }
        }
        return false;
      };
      // The host stopping ends the wait (AbandonedError); the workers stop either way.
      await pollUntil(handedOver, { signal: abort.signal, intervalMs: this.drainPollMs }).catch((error: unknown) => {
        if (!(error instanceof AbandonedError)) throw error;
      });
      await this.stopAll(entry.workers);
    };
    const entry: Draining = { plans, workers: [...workers], abort, done: Promise.resolve() };
    entry.done = drain().finally(() => this.draining.delete(entry));
    this.draining.add(entry);
  }

  private async startAll(roles: readonly Role[]): Promise<void> {
    for (const role of roles) await role.start();
  }

  /**
   * The router first, so nothing new reaches the others; then the rest together: each
   * consumer leaving its group can wait for a rebalance, and one after another those waits
   * add up to minutes.
   */
  private async stopAll(roles: readonly Role[]): Promise<void> {
    const stop = async (role: Role): Promise<void> => {
      try {
        await role.stop();
      } catch (error) {
        this.shared.logger.error({ err: error, role: role.name }, 'stopping a role failed');
      }
    };
    for (const router of roles.filter((r) => r.name === 'router')) await stop(router);
    await Promise.all(roles.filter((r) => r.name !== 'router').map(stop));
  }
}
