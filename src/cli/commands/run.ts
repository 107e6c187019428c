import { Option, type Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import { createLogger } from '../../observability/logger.js';
import { PlanHost } from '../../runtime/plan-host.js';
import { ROLE_NAMES, type RoleSelection } from '../../runtime/roles.js';
import { Service, readinessChecks } from '../../runtime/service.js';
import { closeSharedClients, createSharedClients } from '../../runtime/shared.js';
import { loadTopology } from '../../topology/load.js';
import type { RoleName } from '../../topology/plan.js';
import { watchTopology } from '../../topology/watch.js';

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
      const logger = createLogger(env.logLevel);
      const shared = await createSharedClients(env, logger);
      const readiness = readinessChecks(shared.kafka, shared.redis);
      const service = new Service({ env, logger, registry: shared.registry, readiness, onClosed: () => closeSharedClients(shared) });
      const hosts = loaded.map(({ plan }) => new PlanHost(plan, shared, selection));
      const done = service.untilSignal();
      await service.start(hosts);
      const watchers = files.map((file, index) =>
        watchTopology(file, {
          onPlan: ({ plan }) => {
            hosts[index]!.replace(plan).catch((err: unknown) => logger.error({ err, file, plan: plan.id }, 'switching to the new plan failed'));
          },
          onInvalid: (problems) => logger.error({ file, problems, plan: hosts[index]!.plan.id }, 'topology change rejected; the running plan stays'),
          onError: (err) => logger.error({ err, file }, 'watching the topology file failed'),
        }),
      );
      const code = await done;
      for (const watcher of watchers) watcher.close();
      if (code !== 0) throw new Error('shutdown did not complete cleanly; uncommitted work is re-delivered on restart');
    });
}
