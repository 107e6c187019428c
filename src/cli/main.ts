import { Command, CommanderError } from 'commander';
import { ExitCode, InvalidInputError, RuntimeFailure } from '../errors.js';
import { packageVersion } from './version.js';
import { registerCommands } from './commands/index.js';

/** Builds the `flowyard` program; every subcommand lives in ./commands/<name>.ts. */
export function buildProgram(): Command {
  const program = new Command('flowyard')
    .description('Deliver every event of a Kafka topic to several destinations: cascade, fan-out or dag, chosen in YAML.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  registerCommands(program);
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 runtime failure, 2 invalid input or config.\n' +
      'Environment: KAFKA_BROKERS, REDIS_URL, SCHEMA_REGISTRY_URL, FLOWYARD_HTTP_PORT, LOG_LEVEL,\n' +
      '  FLOWYARD_START_TIMEOUT_MS (wait at start for a dependency that is down, default 300000; 0 = no bound),\n' +
      '  FLOWYARD_SHUTDOWN_TIMEOUT_MS (see README).',
  );
  return program;
}

/** Runs the CLI and returns the exit code instead of exiting, so tests can call it. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    return exitCodeFor(error);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version end through exitOverride with code 0; bad flags with 1, which docs/architecture.md §8 maps to 2 (invalid input).
    if (error.exitCode === 0) return ExitCode.ok;
    return ExitCode.invalidInput;
  }
  if (error instanceof InvalidInputError) {
    for (const problem of error.problems) process.stderr.write(`${problem}\n`);
    return ExitCode.invalidInput;
  }
  const message = error instanceof RuntimeFailure ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`flowyard: ${message}\n`);
  return ExitCode.runtimeFailure;
}
