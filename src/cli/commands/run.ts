import { Option, type Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { InvalidInputError, RuntimeFailure } from '../../errors.js';
import { missingTopics } from '../../kafka/topics.js';
import { lagTargets } from '../../observability/lag.js';
import { createLogger, type Logger } from '../../observability/logger.js';
import { startTracing } from '../../observability/tracing.js';
import { retryLimited } from '../../resilience/retry.js';
import { withTimeout } from '../../resilience/timeout.js';
import { PlanHost } from '../../runtime/plan-host.js';
import { ROLE_NAMES, type RoleSelection } from '../../runtime/roles.js';
import { Service, readinessChecks } from '../../runtime/service.js';
import { closeSharedClients, connectSharedClients, openSharedClients, type SharedClients } from '../../runtime/shared.js';
import { waitAtStart } from '../../runtime/start-wait.js';
import { loadTopology } from '../../topology/load.js';
import type { Plan, PlanRole, RoleName } from '../../topology/plan.js';
import { watchTopology } from '../../topology/watch.js';
import { createPlanTopics } from './topics.js';

/** Parses `--roles` and `--destinations`; a bad value is exit 2 naming the flag. */
export function roleSelection(roles: string, destinations: string | undefined): RoleSelection {
  const names = roles.split(',').map((r) => r.trim()).filter(Boolean);
  const chosen = names.includes('all') ? [...ROLE_NAMES] : names;
  const unknown = chosen.filter((r) => !ROLE_NAMES.includes(r as RoleName));
  if (unknown.length > 0 || chosen.length === 0) {
    throw new InvalidInputError(`--roles: ${unknown.length > 0 ? `unknown role(s) ${unknown.join(', ')}` : 'empty'}; expected a comma-separated list of ${ROLE_NAMES.join(', ')} or all`);
  }
  const selection: RoleSelection = { roles: new Set(chosen as RoleName[]) };
  if (destinations === undefined) return selection;
  const list = destinations.split(',').map((d) => d.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidInputError('--destinations: empty; expected a comma-separated list of destination names');
  return { ...selection, destinations: new Set(list) };
}

/** `--destinations` names only destinations of `plan`: checked before anything connects, and before a hand-over. */
export function checkSelection(selection: RoleSelection, plan: Plan): void {
  const unknown = [...(selection.destinations ?? [])].filter((d) => !plan.destinations.some((p) => p.name === d));
  if (unknown.length > 0) {
    throw new InvalidInputError(`--destinations: ${unknown.join(', ')} not in topology ${plan.name} (it has ${plan.destinations.map((d) => d.name).join(', ')})`);
  }
}

/**
 * A valid topology change, before the hand-over: the running plan keeps working while the
 * new plan's topics are created (a new destination or mode needs new derived topics, and
 * the hand-over stops the old plan before the new one starts). Throws what rejects the change.
 */
async function prepareChange(next: Plan, running: Plan, selection: RoleSelection, shared: SharedClients): Promise<void> {
  if (next.name !== running.name) {
    // A new name means new consumer groups that read the source from its start, and a new dedup namespace.
    throw new InvalidInputError(`name changed from ${running.name} to ${next.name}: a renamed topology is a new deployment; restart with the new file`);
  }
  checkSelection(selection, next);
  // Idempotent, so a transient broker error (a metadata refresh racing another topic's creation) is tried again: 3 tries, 1 s then 2 s apart.
  const { created } = await retryLimited(() => createPlanTopics(next, shared.kafka), {
    attempts: 3,
    waitMs: (attempt) => 1_000 * attempt,
    retryIf: (error) => !(error instanceof InvalidInputError),
    onRetry: (error, attempt) => shared.logger.warn({ err: error, plan: next.id, attempt }, 'creating the topics of the new plan failed; trying again'),
  });
  if (created.length > 0) shared.logger.info({ plan: next.id, topics: created }, 'created the topics of the new plan');
}

/**
 * Every topic the plans touch must exist before roles start: kafkajs would otherwise fail
 * with "This server does not host this topic-partition", naming no topic. `run` does not
 * create them (in Kubernetes the chart's topics Job does, with the cluster's settings).
 */
async function checkTopicsExist(loaded: readonly { plan: Plan }[], files: readonly string[], shared: SharedClients): Promise<void> {
  const problems: string[] = [];
  for (const [index, { plan }] of loaded.entries()) {
    const missing = await missingTopics(shared.kafka, plan.topics.map((t) => t.name));
    if (missing.length > 0) problems.push(`${files[index]}: topic(s) ${missing.join(', ')} do not exist; create them with \`flowyard topics create ${files[index]}\``);
  }
  // The cluster's state, not the input: a runtime failure (exit 1), with the fix in the message.
  if (problems.length > 0) throw new RuntimeFailure(problems.join('; '));
}

/**
 * The process should end once `run` returns; when a start or a shutdown failed half-way, a
 * role's client may still hold the event loop open, so end it after a short grace.
 */
function exitWhenStuck(logger: Logger): void {
  setTimeout(() => {
    logger.warn('open connections remain after the failure; exiting');
    process.exit();
  }, 2_000).unref();
}

export function register(program: Command): void {
  program
    .command('run')
    .description('Run roles of one or more topologies until SIGTERM/SIGINT; a changed topology file is picked up without a restart')
    .argument('<files...>', 'topology YAML files (each is watched, ConfigMap symlink swaps included)')
    .addOption(new Option('--roles <roles>', `comma-separated roles: ${ROLE_NAMES.join(', ')} or all`).default('all'))
    .option('--destinations <names>', 'run workers only for these destinations (default: all of them)')
    .action(async (files: string[], options: { roles: string; destinations?: string }) => {
      const selection = roleSelection(options.roles, options.destinations);
      const env = loadEnv();
      const loaded = await Promise.all(files.map((file) => loadTopology(file)));
      for (const { plan } of loaded) checkSelection(selection, plan);
      const logger = createLogger(env.logLevel);
      // Before any role starts, so the first write is traced; a bad OTEL_* value is exit 2 before anything connects.
      const tracing = startTracing(process.env, logger);
      const shared = await openSharedClients(env, logger);
      const readiness = readinessChecks(shared.kafka, shared.redis);
      const hosts = loaded.map(({ plan }) => new PlanHost(plan, shared, selection));
      // A shadow runs beside its live plan, in the same roles, with its own groups and dry-run destinations.
      const shadowHosts = loaded.map(({ plan }) => (plan.shadow === undefined ? undefined : new PlanHost(plan.shadow, shared, selection)));
      const allHosts = [...hosts, ...shadowHosts.filter((host): host is PlanHost => host !== undefined)];
      // The lag of the groups this process runs, of whichever plan each host runs now.
      const runs = (role: PlanRole): boolean =>
        selection.roles.has(role.role) && (role.destination === undefined || selection.destinations === undefined || selection.destinations.has(role.destination));
      const lag = { kafka: shared.kafka, metrics: shared.metrics, targets: () => allHosts.flatMap((host) => lagTargets(host.plan, runs)) };
      const service = new Service({
        env,
        logger,
        registry: shared.registry,
        readiness,
        lag,
        onClosed: async () => {
          await closeSharedClients(shared);
          await tracing?.shutdown();
        },
      });
      const done = service.untilSignal();
      let stopping = false;
      const startAborted = new AbortController();
      const onSignal = (): void => {
        stopping = true;
        startAborted.abort();
      };
      process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
      try {
        // Alive (/healthz) while it waits for Redis and Kafka below; ready once every role runs.
        await service.listen();
        await connectSharedClients(shared, startAborted.signal);
        const brokers = `Kafka at ${env.kafka.brokers.join(',')}`;
        await waitAtStart(brokers, () => checkTopicsExist(loaded, files, shared), (error) => !(error instanceof InvalidInputError || error instanceof RuntimeFailure), {
          timeoutMs: env.startTimeoutMs,
          signal: startAborted.signal,
          logger,
        });
        await service.start(allHosts);
      } catch (error) {
        if (stopping) {
          // SIGTERM during the start (a wait for a dependency included) is an ordinary stop.
          if ((await done) === 0) return;
        }
        // The host that failed is not the service's yet: stop its roles that did start, then the rest.
        const stopAll = Promise.allSettled(allHosts.map((host) => host.stop())).then(() => service.stop());
        // Bounded, and the bound does not keep the process alive on its own.
        await withTimeout(env.shutdownTimeoutMs, () => stopAll, () => new Error('stopping after a failed start took too long'), { unref: true }).catch(() => undefined);
        exitWhenStuck(logger);
        throw error;
      }
      // One change at a time per file, in the order they were seen.
      const changes = hosts.map(() => Promise.resolve());
      const watchers = files.map((file, index) => {
        const host = hosts[index]!;
        const reject = (plan: Plan, problems: readonly string[]): void =>
          logger.error({ file, problems, plan: host.plan.id, rejected: plan.id }, 'topology change rejected; the running plan stays');
        return watchTopology(file, {
          onPlan: ({ plan }) => {
            changes[index] = changes[index]!.then(async () => {
              try {
                await prepareChange(plan, host.plan, selection, shared);
              } catch (err) {
                if (err instanceof InvalidInputError) reject(plan, err.problems);
                else reject(plan, [`${file}: preparing plan ${plan.id} failed: ${(err as Error).message}`]);
                return;
              }
              if (stopping) return; // the host is stopping or stopped: starting a plan now would outlive the process
              await host.replace(plan).catch((err: unknown) => logger.error({ err, file, plan: plan.id }, 'switching to the new plan failed'));
              const shadowHost = shadowHosts[index];
              if (plan.shadow !== undefined && shadowHost !== undefined) {
                if (shadowHost.plan.id !== plan.shadow.id) {
                  await shadowHost.replace(plan.shadow).catch((err: unknown) => logger.error({ err, file, plan: plan.shadow?.id }, 'switching the shadow to its new plan failed'));
                }
              } else if (plan.shadow !== undefined || shadowHost !== undefined) {
                // Starting or stopping a whole second set of groups is a deployment change, not a plan switch.
                logger.warn({ file, plan: plan.id }, `shadow ${plan.shadow === undefined ? 'removed' : 'added'}: takes effect when the process restarts`);
              }
            });
          },
          onInvalid: (problems) => logger.error({ file, problems, plan: host.plan.id }, 'topology change rejected; the running plan stays'),
          onError: (err) => logger.error({ err, file }, 'watching the topology file failed'),
        }, { runningText: loaded[index]!.text });
      });
      const code = await done;
      for (const watcher of watchers) watcher.close();
      if (code !== 0) {
        exitWhenStuck(logger);
        throw new Error('shutdown did not complete cleanly; uncommitted work is re-delivered on restart');
      }
    });
}
