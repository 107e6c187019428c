/** Exit codes of the CLI (docs/architecture.md §8). */
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

/**
 * A runtime failure flowyard understands, whose message already says what is wrong and how
 * to fix it (e.g. a topic that does not exist yet). The CLI prints `flowyard: <message>`
 * without a stack trace and exits 1; unexpected errors keep their stack.
 */
export class RuntimeFailure extends Error {
  override readonly name = 'RuntimeFailure';
}
