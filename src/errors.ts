/** Exit codes of the CLI (DESIGN.md §6). */
export const ExitCode = { ok: 0, runtimeFailure: 1, invalidInput: 2 } as const;

/**
 * Input or configuration the user got wrong: a topology file, an environment variable,
 * a CLI flag. The CLI prints the message (which names what and where) and exits 2.
 */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  /** One line per problem, already formatted (e.g. `file:line:col: message`). */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = problems;
  }
}
