/**
 * Reading a topology file: YAML syntax -> `${ENV}` placeholders -> schema -> graph rules
 * -> plan. Every problem of every layer that can run is reported at once, each as
 * `file:line:col: message`, in one InvalidInputError.
 */
import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import { locate, parseYaml, type LocatedProblem, type PathProblem, type TopologyDocument, type ValuePath } from './document.js';
import { resolvePlaceholders } from './placeholders.js';
import { validateSchema } from './validate.js';
import { checkGraph } from './rules.js';
import { compile } from './planner.js';
import type { Topology } from './spec.js';
import type { Plan } from './plan.js';

/** A valid topology (defaults filled in), its plan, and the text both came from. */
export interface LoadedTopology {
  readonly topology: Topology;
  readonly plan: Plan;
  readonly text: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates a topology file.
 * @throws InvalidInputError with one `file:line:col: message` problem per line.
 */
export async function loadTopology(filePath: string, env: Env = process.env): Promise<LoadedTopology> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new InvalidInputError(`${filePath}: cannot read the topology file: ${reason}`);
  }
  return parseTopology(text, filePath, env);
}

/**
 * Validates topology text; `fileName` only prefixes the problems.
 * @throws InvalidInputError with every problem of the text.
 */
export function parseTopology(text: string, fileName: string, env: Env = process.env): LoadedTopology {
  const { topology, problems } = check(text, env);
  if (topology === undefined || problems.length > 0) {
    const lines = problems.map((problem) => `${fileName}:${problem.line}:${problem.col}: ${problem.message}`);
    const count = lines.length === 1 ? '1 problem' : `${lines.length} problems`;
    throw new InvalidInputError(`${fileName}: invalid topology (${count})`, lines);
  }
  return { topology, plan: compile(topology), text };
}

function check(text: string, env: Env): { topology?: Topology; problems: LocatedProblem[] } {
  const { document, problems: syntax } = parseYaml(text);
  // After a syntax error the structure is guesswork; more layers would only add noise.
  if (syntax.length > 0) return { problems: syntax };

  const placeholders = resolvePlaceholders(document, env);
  const data: unknown = document.doc.toJS();
  const schema = validateSchema(data);
  const graph = checkGraph(data);
  const located = [...schema.problems, ...graph]
    .filter((problem) => !placeholders.unresolved.some((path) => startsWith(problem.path, path)))
    .map((problem) => place(document, problem));
  const problems = sortByPosition(dedupe([...placeholders.problems, ...located]));
  return schema.topology === undefined ? { problems } : { topology: schema.topology, problems };
}

function place(document: TopologyDocument, problem: PathProblem): LocatedProblem {
  return { ...locate(document, problem.path, problem.at), message: problem.message };
}

function startsWith(path: ValuePath, prefix: ValuePath): boolean {
  return prefix.length <= path.length && prefix.every((segment, index) => String(segment) === String(path[index]));
}

function dedupe(problems: LocatedProblem[]): LocatedProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const id = `${problem.line}:${problem.col}:${problem.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** In file order; problems at one position keep the order of the layers. */
function sortByPosition(problems: LocatedProblem[]): LocatedProblem[] {
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => a.problem.line - b.problem.line || a.problem.col - b.problem.col || a.index - b.index)
    .map(({ problem }) => problem);
}
