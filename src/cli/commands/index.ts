import type { Command } from 'commander';

/** Each subcommand module exports `register(program)`; list them here once. */
export function registerCommands(_program: Command): void {}
