import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { loadTopology } from '../../topology/load.js';

/**
 * `flowyard validate <files...>`: checks every file, prints `ok <name>: ...` for each valid
 * one and every problem of the invalid ones; exits 2 when any file is invalid.
 */
export function register(program: Command): void {
  program
    .command('validate')
    .description('Check topology files (schema, names, dependencies, topics) and print each plan id')
    .argument('<files...>', 'topology YAML files')
    .action(async (files: string[]) => {
      const problems: string[] = [];
      for (const file of files) {
        try {
          const { plan } = await loadTopology(file);
          const count = plan.destinations.length;
          process.stdout.write(`ok ${plan.name}: ${plan.mode}, ${count} destination${count === 1 ? '' : 's'}, plan ${plan.id}\n`);
        } catch (error) {
          if (!(error instanceof InvalidInputError)) throw error;
          problems.push(...error.problems);
        }
      }
      if (problems.length > 0) throw new InvalidInputError(`${problems.length} problem(s) in topology files`, problems);
    });
}
