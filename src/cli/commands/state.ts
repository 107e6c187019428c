/**
 * `flowyard state status|recover`: what Redis holds of a topology's state (epoch.ts), and the
 * recovery after Redis lost it: rebuild what the completions topic proves, then write a new
 * epoch, which the waiting roles pick up within seconds.
 */
import type { Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import type { EpochVerdict } from '../../dedup/epoch.js';
import { rebuildFromCompletions, type RebuildSummary } from '../../dedup/rebuild.js';
import { epochKey, newEpoch, stateVerdict } from '../../dedup/state-guard.js';
import { RuntimeFailure } from '../../errors.js';
import type { KafkaPort } from '../../kafka/port.js';
import { createLogger } from '../../observability/logger.js';
import type { Redis } from '../../redis/connection.js';
import { closeSharedClients, createSharedClients } from '../../runtime/shared.js';
import { loadTopology } from '../../topology/load.js';
import type { Plan } from '../../topology/plan.js';
import { parseSince } from './dlq.js';

interface Clients {
  readonly kafka: KafkaPort;
  readonly redis: Redis;
}

export interface RecoverOptions {
  /** ms since epoch: read completions from here; default the dedup TTL back from now. */
  readonly since?: number;
  /** Write the epoch without rebuilding (Redis was emptied on purpose, or the state is known to be worthless). */
  readonly rebuild: boolean;
}

export type RecoverResult =
  | { readonly kind: 'nothing-lost'; readonly verdict: EpochVerdict }
  | { readonly kind: 'recovered'; readonly epoch: string; readonly rebuilt?: RebuildSummary; readonly since: number };

/** Rebuilds the state a lost Redis held (unless `rebuild` is false) and writes a new epoch; does nothing when nothing is lost. */
export async function recoverState(plan: Plan, clients: Clients, options: RecoverOptions, now: number = Date.now()): Promise<RecoverResult> {
  const verdict = await stateVerdict(plan, clients);
  if (verdict.kind !== 'lost') return { kind: 'nothing-lost', verdict };
  const since = options.since ?? now - plan.dedup.ttlSeconds * 1_000;
  const rebuilt = options.rebuild ? await rebuildFromCompletions(plan, clients, since) : undefined;
  const epoch = newEpoch(new Date(now));
  // Last: the roles resume as soon as they see it, so everything above must be in Redis first.
  await clients.redis.set(epochKey(plan.name), epoch);
  return { kind: 'recovered', epoch, since, ...(rebuilt && { rebuilt }) };
}

function describe(plan: Plan, verdict: EpochVerdict): string {
  if (verdict.kind === 'armed') return `topology ${plan.name}: Redis holds its state (epoch ${verdict.epoch})`;
  if (verdict.kind === 'first-run') return `topology ${plan.name}: no state yet (no epoch, nothing routed); the first run writes it`;
  return `topology ${plan.name}: Redis LOST its state: ${verdict.reason}; run \`flowyard state recover\` on this file`;
}

export function register(program: Command): void {
  const state = program.command('state').description("Check or recover a topology's state in Redis (dedup, done-keys, seqs, tracker)");
  state
    .command('status')
    .description('Say whether Redis still holds the topology\'s state; exit 1 when it lost it')
    .argument('<file>', 'topology YAML file')
    .action(async (file: string) => {
      const env = loadEnv();
      const { plan } = await loadTopology(file);
      const shared = await createSharedClients(env, createLogger(env.logLevel === 'info' ? 'warn' : env.logLevel));
      try {
        const verdict = await stateVerdict(plan, shared);
        if (verdict.kind === 'lost') throw new RuntimeFailure(describe(plan, verdict));
        process.stdout.write(`${describe(plan, verdict)}\n`);
      } finally {
        await closeSharedClients(shared);
      }
    });
  state
    .command('recover')
    .description(
      'After Redis lost the state: rebuild routed marks, seqs, done-keys and tracker outcomes from the completions topic, then write a new epoch so the waiting roles resume',
    )
    .argument('<file>', 'topology YAML file')
    .option('--since <time>', 'read completions from this ISO time or this long ago (30m, 2h, 7d); default dedup.ttlSeconds ago')
    .option('--no-rebuild', 'only write the new epoch: the roles resume on an empty state (see README for what that risks)')
    .addHelpText(
      'after',
      '\nDoes nothing when Redis still holds the state. What the rebuild cannot restore, and what resuming then risks, is in README "When Redis loses flowyard state".',
    )
    .action(async (file: string, options: { since?: string; rebuild: boolean }) => {
      const since = options.since === undefined ? undefined : parseSince(options.since);
      const env = loadEnv();
      const { plan } = await loadTopology(file);
      const shared = await createSharedClients(env, createLogger(env.logLevel === 'info' ? 'warn' : env.logLevel));
      try {
        const result = await recoverState(plan, shared, { rebuild: options.rebuild, ...(since !== undefined && { since }) });
        if (result.kind === 'nothing-lost') {
          process.stdout.write(`${describe(plan, result.verdict)}; nothing to recover\n`);
          return;
        }
        const { rebuilt } = result;
        if (rebuilt !== undefined) {
          process.stdout.write(
            `rebuilt from ${plan.completionsTopic} since ${new Date(result.since).toISOString()}: ${rebuilt.records} records, ${rebuilt.events} events, ${rebuilt.doneKeys} done-keys\n`,
          );
        }
        process.stdout.write(`topology ${plan.name}: new epoch ${result.epoch} written; waiting roles resume within a few seconds\n`);
      } catch (error) {
        throw error instanceof RuntimeFailure ? error : new RuntimeFailure(`state recover for ${plan.name} failed (nothing resumed; run it again): ${(error as Error).message}`);
      } finally {
        await closeSharedClients(shared);
      }
    });
}
