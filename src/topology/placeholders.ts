/**
 * `${ENV_VAR}` placeholders in string values, resolved before the schema sees the file so
 * one topology serves several environments (topic names, partitions per cluster, ...).
 *
 *   ${NAME}            the variable; an unset variable is an error
 *   ${NAME:-default}   the variable, or `default` when it is unset or empty
 *   $${NAME}           the literal text ${NAME}
 *
 * A plain (unquoted) value that is exactly one placeholder takes the type its text has in
 * YAML, so `partitions: ${PARTITIONS}` is a number; quote it to keep a string.
 */
import { isMap, isScalar, isSeq, parse, type Node } from 'yaml';
import { positionOf, type LocatedProblem, type TopologyDocument, type ValuePath } from './document.js';

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface PlaceholderResult {
  readonly problems: LocatedProblem[];
  /** Paths whose value could not be resolved; later layers skip their errors there. */
  readonly unresolved: ValuePath[];
}

/** Resolves placeholders in every string value of the document, in place. Keys are left alone. */
export function resolvePlaceholders(document: TopologyDocument, env: Readonly<Record<string, string | undefined>>): PlaceholderResult {
  const result: PlaceholderResult = { problems: [], unresolved: [] };
  visit(document.doc.contents, [], document, env, result);
  return result;
}

function visit(
  node: unknown,
  path: ValuePath,
  document: TopologyDocument,
  env: Readonly<Record<string, string | undefined>>,
  result: PlaceholderResult,
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      visit(pair.value, [...path, key], document, env, result);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => visit(item, [...path, index], document, env, result));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
    const { value, errors } = substitute(node.value, env);
    if (errors.length > 0) {
      const position = positionOf(document, (node as Node).range?.[0] ?? 0);
      for (const message of errors) result.problems.push({ ...position, message });
      result.unresolved.push(path);
      return;
    }
    node.value = node.type === 'PLAIN' && isSinglePlaceholder(node.value) ? typed(value) : value;
  }
}

function isSinglePlaceholder(text: string): boolean {
  return /^\$\{[^}]*\}$/.test(text);
}

/** The YAML reading of a resolved plain value: numbers and booleans keep their type. */
function typed(text: string): unknown {
  try {
    const value: unknown = parse(text);
    return typeof value === 'number' || typeof value === 'boolean' ? value : text;
  } catch {
    return text;
  }
}

/** Replaces the placeholders of one string; returns every problem of that string. */
export function substitute(text: string, env: Readonly<Record<string, string | undefined>>): { value: string; errors: string[] } {
  const errors: string[] = [];
  let value = '';
  let index = 0;
  while (index < text.length) {
    if (text.startsWith('$${', index)) {
      value += '${';
      index += 3;
      continue;
    }
    if (!text.startsWith('${', index)) {
      value += text[index];
      index += 1;
      continue;
    }
    const end = text.indexOf('}', index + 2);
    if (end === -1) {
      errors.push(`unterminated placeholder '${text.slice(index)}': close it with '}', or write $\${ for a literal '\${'`);
      break;
    }
    const body = text.slice(index + 2, end);
    const separator = body.indexOf(':-');
    const name = separator === -1 ? body : body.slice(0, separator);
    const fallback = separator === -1 ? undefined : body.slice(separator + 2);
    if (!VARIABLE_NAME.test(name)) {
      errors.push(`bad placeholder '\${${body}}': a variable name is letters, digits and '_', not starting with a digit`);
    } else {
      const set = env[name];
      if (set !== undefined && (set !== '' || fallback === undefined)) {
        value += set;
      } else if (fallback !== undefined) {
        value += fallback;
      } else {
        errors.push(
          `environment variable ${name} is not set: set it, give a default with \${${name}:-value}, or write $\${${name}} for the literal text`,
        );
      }
    }
    index = end + 1;
  }
  return { value, errors };
}
