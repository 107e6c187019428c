/**
 * The schema layer of validation: ajv checks the data against the TypeBox schema (all
 * errors at once) and fills in defaults; each ajv error becomes one problem that names the
 * field, says what is wrong and, where it can, how to fix it.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { TopologySchema, type Topology } from './spec.js';
import { pathText, type PathProblem, type ValuePath } from './document.js';
import { sinkTypes } from '../sinks/registry.js';
import { FIELD_PATH_PATTERN, FIELD_PATH_RULE, NAME_PATTERN, NAME_RULE, TOPIC_PATTERN, TOPIC_RULE } from './names.js';
import { closest } from './suggest.js';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  compiled ??= new Ajv({
    allErrors: true,
    verbose: true, // errors carry their parentSchema: allowed fields, both bounds of a range
    useDefaults: true,
    discriminator: true,
    strict: true,
  }).compile(TopologySchema);
  return compiled;
}

/**
 * Validates `data` (the YAML as plain JS, mutated: defaults are filled in) against the
 * topology schema. Returns the problems, or none and the data as a `Topology`.
 */
export function validateSchema(data: unknown): { topology?: Topology; problems: PathProblem[] } {
  const validate = validator();
  if (validate(data)) return { topology: data as Topology, problems: [] };
  return { problems: describeErrors(validate.errors ?? []) };
}

function describeErrors(errors: readonly ErrorObject[]): PathProblem[] {
  // A value of the wrong type also fails the keywords of its branches; the type error alone says it.
  const wrongType = new Set(errors.filter((error) => error.keyword === 'type').map((error) => error.instancePath));
  const problems: PathProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.keyword !== 'type' && wrongType.has(error.instancePath)) continue;
    const problem = describeError(error);
    const id = `${problem.path.join('/')}\u0000${problem.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push(problem);
  }
  return problems;
}

function toPath(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}

/** `destinations[0].sink` or, at the top, `the topology`. */
function where(path: ValuePath): string {
  return path.length === 0 ? 'the topology' : pathText(path);
}

/** The value a user wrote, short enough for a message. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  return String(value);
}

function schemaOf(error: ErrorObject): Record<string, unknown> {
  return (error.parentSchema ?? {}) as Record<string, unknown>;
}

function describeError(error: ErrorObject): PathProblem {
  const path = toPath(error.instancePath);
  const name = where(path);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const field = String(params.missingProperty);
      return { path, message: `missing field '${field}' in ${name}` };
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const allowed = Object.keys((schemaOf(error).properties ?? {}) as Record<string, unknown>);
      const suggestion = closest(field, allowed);
      const hint = suggestion === undefined ? '' : ` did you mean '${suggestion}'?`;
      return {
        path: [...path, field],
        at: 'key',
        message: `unknown field '${field}' in ${name}${sinkLabel(error)};${hint} allowed fields: ${allowed.join(', ')}`,
      };
    }
    case 'type':
      return { path, message: typeMessage(path, String(params.type), error.data) };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `${name} must be ${rangeText(schemaOf(error))} (got ${shown(error.data)})` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      return { path, message: `${name} must be one of ${allowed.join(', ')} (got ${shown(error.data)})` };
    }
    case 'pattern':
      return { path, message: `${name} ${shown(error.data)} ${patternRule(String(params.pattern))}` };
    case 'minLength':
      return { path, message: `${name} must not be empty` };
    case 'maxLength':
      return { path, message: `${name} must be at most ${String(params.limit)} characters (got ${String(error.data).length})` };
    case 'minItems':
      return { path, message: `${name} needs at least ${String(params.limit)} ${plural(Number(params.limit), 'entry', 'entries')}` };
    case 'maxItems':
      return {
        path,
        message: `${name} has ${(error.data as unknown[]).length} entries; at most ${String(params.limit)} are allowed`,
      };
    case 'uniqueItems': {
      // ajv scans from the end, so which of i and j is the later entry is not fixed.
      const [earlier, later] = [Number(params.i), Number(params.j)].sort((x, y) => x - y) as [number, number];
      const list = error.data as unknown[];
      return {
        path: [...path, later],
        message: `${pathText([...path, later])} repeats ${shown(list[later])} from ${pathText([...path, earlier])}; list it once`,
      };
    }
    case 'discriminator':
      return params.error === 'mapping'
        ? {
            path: [...path, 'type'],
            message: `unknown sink type ${shown(params.tagValue)} in ${name}; known types: ${sinkTypes().join(', ')}`,
          }
        : (error.data as Record<string, unknown>).type === undefined
          ? { path, message: `${name} needs a 'type' naming the sink; known types: ${sinkTypes().join(', ')}` }
          : {
              path: [...path, 'type'],
              message: `unknown sink type ${shown((error.data as Record<string, unknown>).type)} in ${name}; known types: ${sinkTypes().join(', ')}`,
            };
    default:
      return { path, message: `${name} ${error.message ?? 'is invalid'}` };
  }
}

/** ` (kafka sink)` when the error is inside a sink config, whose allowed fields depend on its type. */
function sinkLabel(error: ErrorObject): string {
  const type = (schemaOf(error).properties as Record<string, { const?: unknown }> | undefined)?.type?.const;
  return typeof type === 'string' ? ` (${type} sink)` : '';
}

function typeMessage(path: ValuePath, type: string, value: unknown): string {
  const name = where(path);
  if (path.length === 0) return `a topology must be a mapping with name, source, mode and destinations (got ${shown(value)})`;
  const expected: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    integer: 'a whole number',
    number: 'a number',
    boolean: 'true or false',
  };
  const hint = type === 'array' && (typeof value === 'string' || typeof value === 'number') ? `; write [${String(value)}]` : '';
  return `${name} must be ${expected[type] ?? type} (got ${shown(value)})${hint}`;
}

function rangeText(schema: Record<string, unknown>): string {
  const noun = schema.type === 'integer' ? 'a whole number' : 'a number';
  const { minimum, maximum } = schema;
  if (typeof minimum === 'number' && typeof maximum === 'number') return `${noun} from ${minimum} to ${maximum}`;
  if (typeof minimum === 'number') return `${noun} of at least ${minimum}`;
  if (typeof maximum === 'number') return `${noun} of at most ${maximum}`;
  return noun;
}

/** Completes "<field> '<value>' ..." with the rule the value broke. */
function patternRule(pattern: string): string {
  if (pattern === NAME_PATTERN) return `must match ${NAME_PATTERN}: ${NAME_RULE}`;
  if (pattern === TOPIC_PATTERN) return `is not a valid Kafka topic name: use ${TOPIC_RULE}`;
  if (pattern === FIELD_PATH_PATTERN) return `must be ${FIELD_PATH_RULE}`;
  return `must match ${pattern}`;
}

function plural(count: number, one: string, many: string): string {
  return count === 1 ? one : many;
}
