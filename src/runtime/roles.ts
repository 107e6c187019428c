/**
 * Builds the roles of one plan that this process should run (`--roles`, `--destinations`).
 * Roles receive their slice of the plan and the shared clients; they never see the YAML.
 */
import { InvalidInputError } from '../errors.js';
import { DedupStore } from '../dedup/store.js';
import { StateGuard } from '../dedup/state-guard.js';
import { createDecoder } from '../schema/decoder.js';
import type { SinkFactory } from '../sinks/define.js';
import { createSink } from '../sinks/registry.js';
import type { Plan, RoleName } from '../topology/plan.js';
import type { RoleContext } from './context.js';
import type { Role } from './role.js';
import { Tracker } from '../tracker/tracker.js';
import { Sequencer } from '../sequencer/sequencer.js';
import { Router } from './router.js';
import { routingOf } from './routing.js';
import { Worker } from './worker.js';
import { KafkaTransactionalWorker } from './kafka-tx-worker.js';
import type { SharedClients } from './shared.js';

export const ROLE_NAMES: readonly RoleName[] = ['router', 'worker', 'tracker', 'sequencer'];

export interface RoleSelection {
  readonly roles: ReadonlySet<RoleName>;
  /** Workers to run; undefined = every destination of the plan. */
  readonly destinations?: ReadonlySet<string>;
}

export interface RoleOverrides {
  /** Builds sinks instead of the registered factories: tests and benchmarks plug in their own destinations. */
  readonly createSink?: SinkFactory;
  /** The same for the sinks of `compensate` configs. */
  readonly createCompensationSink?: SinkFactory;
}

/** What a plan's roles must know while an older plan drains (see plan-host.ts). */
export interface HandOver {
  /** Plans whose events may still be in flight: the router keeps their busy keys there, the tracker judges their events. */
  readonly draining: readonly Plan[];
}

export async function createRoles(
  plan: Plan,
  shared: SharedClients,
  selection: RoleSelection,
  overrides: RoleOverrides = {},
  handOver: HandOver = { draining: [] },
): Promise<Role[]> {
  const unknown = [...(selection.destinations ?? [])].filter((d) => !plan.destinations.some((p) => p.name === d));
  if (unknown.length > 0) {
    throw new InvalidInputError(`--destinations: ${unknown.join(', ')} not in topology ${plan.name} (it has ${plan.destinations.map((d) => d.name).join(', ')})`);
  }
  // Before any role reads state: a Redis that lost it must be known before the first batch.
  await StateGuard.of(shared.redis, plan.name).arm({ kafka: shared.kafka, plan, logger: shared.logger, metrics: shared.metrics });
  const dedup = new DedupStore(shared.redis, plan.name, plan.dedup.ttlSeconds);
  const contextOf = (p: Plan): RoleContext => ({
    plan: p,
    env: shared.env,
    kafka: shared.kafka,
    redis: shared.redis,
    metrics: shared.metrics,
    dedup,
    logger: shared.logger.child({ plan: p.id }),
  });
  const context = contextOf(plan);
  const decoderOptions = shared.env.schemaRegistryUrl ? { schemaRegistryUrl: shared.env.schemaRegistryUrl } : {};
  const roles: Role[] = [];
  if (selection.roles.has('router')) roles.push(new Router(context, await createDecoder(plan.source, decoderOptions), routingOf(plan, handOver.draining)));
  if (selection.roles.has('worker')) {
    // A rollout runs the destinations of both plans; compensation topics are shared by both.
    for (const target of plan.rollout ? [plan, plan.rollout.plan] : [plan]) {
      const targetContext = target === plan ? context : contextOf(target);
      for (const destination of target.destinations) {
        if (selection.destinations && !selection.destinations.has(destination.name)) continue;
        const sinkContext = {
          destination: destination.name,
          concurrency: destination.concurrency,
          timeoutMs: destination.timeoutMs,
          kafka: shared.kafka,
          env: shared.env,
          logger: targetContext.logger.child({ destination: destination.name }),
        };
        // A kafka sink goes the transactional path (one transaction per batch, exactly once
        // without Redis) unless a test or benchmark plugs in its own sink.
        if (destination.sink.type === 'kafka' && overrides.createSink === undefined) {
          roles.push(new KafkaTransactionalWorker(targetContext, destination));
        } else {
          const sink = await (overrides.createSink ?? createSink)(destination.sink, sinkContext);
          roles.push(new Worker(targetContext, destination, sink, await createDecoder(plan.source, decoderOptions)));
        }
        if (destination.compensation !== undefined && target === plan) {
          if (destination.compensation.sink.type === 'kafka' && overrides.createCompensationSink === undefined) {
            roles.push(new KafkaTransactionalWorker(targetContext, destination, { compensation: true }));
          } else {
            const undo = await (overrides.createCompensationSink ?? createSink)(destination.compensation.sink, sinkContext);
            roles.push(new Worker(targetContext, destination, undo, await createDecoder(plan.source, decoderOptions), { compensation: true }));
          }
        }
      }
    }
  }
  // After the workers: stopping in this order lets the tracker see the workers' last completions.
  if (selection.roles.has('tracker')) roles.push(new Tracker(context, handOver.draining));
  if (selection.roles.has('sequencer')) {
    if (plan.sequencer !== undefined) roles.push(new Sequencer(context));
    else context.logger.info({ role: 'sequencer' }, `topology ${plan.name} has no ordering.sequencer; the sequencer role is not started`);
  }
  return roles;
}
