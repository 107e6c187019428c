/**
 * A topology file as a YAML document that remembers where every node is, so each problem
 * can be reported as `file:line:col`.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/** Path of a value inside the topology: keys and list indexes, e.g. ['destinations', 0, 'sink']. */
export type ValuePath = readonly (string | number)[];

/** A problem with its 1-based position in the file. */
export interface LocatedProblem {
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

/** A problem still identified by path; `at: 'key'` points at the field's key rather than its value. */
export interface PathProblem {
  readonly path: ValuePath;
  readonly message: string;
  readonly at?: 'key' | 'value';
}

export interface TopologyDocument {
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

/** Parses YAML text; syntax errors come back located, with yaml's message minus its excerpt. */
export function parseYaml(text: string): { document: TopologyDocument; problems: LocatedProblem[] } {
  const lineCounter = new LineCounter();
  // prettyErrors off: we print our own `file:line:col:` prefix instead of yaml's excerpt.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lines = text.split('\n');
  const problems: LocatedProblem[] = [];
  for (const error of doc.errors) {
    const position = lineCounter.linePos(error.pos[0]);
    // One error usually sets off more on the same line; the first is the one to fix.
    if (problems.some((problem) => problem.line === position.line)) continue;
    if (error.code === 'MULTIPLE_DOCS') {
      problems.push({ ...position, message: "YAML: a topology file holds one document; remove this '---' and what follows, or move it to its own file" });
      continue;
    }
    const hint = lines[position.line - 1]?.includes('${') ? PLACEHOLDER_HINT : '';
    problems.push({ ...position, message: `YAML: ${yamlMessage(error.message)}${hint}` });
  }
  return { document: { doc, lineCounter }, problems };
}

const PLACEHOLDER_HINT = ' (inside { } or [ ], quote a ${VAR} placeholder: "${VAR}")';

function yamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

/** Position of an offset in the text. */
export function positionOf(document: TopologyDocument, offset: number): { line: number; col: number } {
  return document.lineCounter.linePos(offset);
}

/**
 * Where a path points to: the value node (or, with `at: 'key'`, the key of its field).
 * A path that leaves the document (a missing field) ends at the deepest node that exists,
 * which is the mapping the field is missing from.
 */
export function locate(document: TopologyDocument, path: ValuePath, at: 'key' | 'value' = 'value'): { line: number; col: number } {
  const { doc } = document;
  let current: unknown = doc.contents;
  let deepest: Node | undefined = isNode(current) ? current : undefined;
  let key: Node | undefined;
  for (const segment of path) {
    if (isAlias(current)) current = current.resolve(doc);
    key = undefined;
    if (isMap(current)) {
      const pair = current.items.find((item) => keyText(item.key) === String(segment));
      if (pair === undefined) break;
      key = isNode(pair.key) ? pair.key : undefined;
      current = pair.value;
    } else if (isSeq(current) && typeof segment === 'number') {
      current = current.items[segment];
    } else {
      break;
    }
    const next = isNode(current) ? current : key;
    if (next === undefined) break;
    deepest = next;
  }
  const target = at === 'key' && key !== undefined ? key : deepest;
  return positionOf(document, target?.range?.[0] ?? 0);
}

function isNode(value: unknown): value is Node {
  return isScalar(value) || isMap(value) || isSeq(value) || isAlias(value);
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

/** Renders a path as people write it: `destinations[1].retry.maxAttempts`. */
export function pathText(path: ValuePath): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text;
}
