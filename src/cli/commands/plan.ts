import { Option, type Command } from 'commander';
import { loadTopology } from '../../topology/load.js';
import { PLAN_FORMATS, renderPlan, type PlanFormat } from '../../topology/render.js';

/** `flowyard plan <file> [--format text|json|mermaid]`: prints what the topology compiles to. */
export function register(program: Command): void {
  program
    .command('plan')
    .description('Print the plan of a topology: topics, consumer groups, roles and edges')
    .argument('<file>', 'topology YAML file')
    .addOption(new Option('--format <format>', 'output format').choices(PLAN_FORMATS).default('text'))
    .action(async (file: string, options: { format: PlanFormat }) => {
      const { plan } = await loadTopology(file);
      process.stdout.write(`${renderPlan(plan, options.format)}\n`);
    });
}
