/**
 * The graph layer of validation: rules that span several fields (names, dependencies,
 * topics). They read the data defensively, so they also run on a file with schema errors
 * and every problem of the file is reported at once.
 */
import { pathText, type PathProblem, type ValuePath } from './document.js';
import { kafkaSinkTopic } from '../sinks/kafka/config.js';
import { compensationInputTopic, completionsTopic, defaultDlqTopic, destinationInputTopic, RESERVED_DESTINATION_NAMES } from './names.js';
import { closest } from './suggest.js';
import { checkShadow } from '../shadow/rules.js';
import type { Mode } from './plan.js';

type Data = Record<string, unknown>;

interface DestinationView {
  readonly index: number;
  readonly name?: string;
  readonly data: Data;
  /** `after` entries that are strings, with their list index. */
  readonly after: readonly { readonly name: string; readonly index: number }[];
}

function record(value: unknown): Data | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Data) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const MODES: readonly string[] = ['cascade', 'fanout', 'dag'];

/** Every cross-field problem of the topology data (the YAML as plain JS, before or after defaults). */
export function checkGraph(data: unknown): PathProblem[] {
  const root = record(data);
  if (root === undefined) return [];
  const destinations = (Array.isArray(root.destinations) ? root.destinations : []).flatMap((item: unknown, index) => {
    const entry = record(item);
    if (entry === undefined) return [];
    const after = (Array.isArray(entry.after) ? entry.after : []).flatMap((value: unknown, afterIndex) =>
      typeof value === 'string' ? [{ name: value, index: afterIndex }] : [],
    );
    const name = text(entry.name);
    return [{ index, data: entry, after, ...(name === undefined ? {} : { name }) }];
  });
  const mode = text(root.mode);
  return [
    ...checkSource(record(root.source)),
    ...checkNames(destinations),
    ...checkAfter(destinations, mode),
    ...(mode === 'dag' ? checkCycles(destinations) : []),
    ...checkTopics(root, destinations, mode !== undefined && MODES.includes(mode) ? (mode as Mode) : undefined),
    ...checkRetry(destinations),
    ...checkRollout(record(root.rollout), mode),
    ...checkShadow(root),
  ];
}

function checkRollout(rollout: Data | undefined, mode: string | undefined): PathProblem[] {
  const to = text(rollout?.to);
  if (to === undefined || to !== mode) return [];
  return [{ path: ['rollout', 'to'], message: `rollout.to is '${to}', the topology's own mode; a rollout runs a share of the keys in another mode` }];
}

function checkSource(source: Data | undefined): PathProblem[] {
  if (source === undefined) return [];
  const problems: PathProblem[] = [];
  if (source.topic !== undefined && source.topics !== undefined) {
    problems.push({ path: ['source', 'topics'], at: 'key', message: "source has both 'topic' and 'topics'; keep one ('topics' for several)" });
  } else if (source.topic === undefined && source.topics === undefined) {
    problems.push({ path: ['source'], message: "source needs 'topic' (one topic) or 'topics' (a list of topics)" });
  }
  const format = source.format ?? 'json';
  if (format === 'avro' && source.schema === undefined) {
    problems.push({
      path: ['source', 'format'],
      message: "source format avro needs 'schema': a file under schemas/ (e.g. order-event) or a schema registry subject",
    });
  }
  if (format === 'json' && source.schema !== undefined) {
    problems.push({ path: ['source', 'schema'], at: 'key', message: "source 'schema' is only used with format: avro; set format: avro or remove schema" });
  }
  return problems;
}

function checkNames(destinations: readonly DestinationView[]): PathProblem[] {
  const problems: PathProblem[] = [];
  const firstIndex = new Map<string, number>();
  for (const destination of destinations) {
    const { name, index } = destination;
    if (name === undefined) continue;
    if (RESERVED_DESTINATION_NAMES.includes(name)) {
      problems.push({
        path: ['destinations', index, 'name'],
        message: `destination name '${name}' is reserved: its consumer group would be the ${name} role's; choose another name`,
      });
    }
    const first = firstIndex.get(name);
    if (first === undefined) {
      firstIndex.set(name, index);
    } else {
      problems.push({
        path: ['destinations', index, 'name'],
        message: `destination name '${name}' is already used by destinations[${first}]; destination names must be unique`,
      });
    }
  }
  return problems;
}

function checkAfter(destinations: readonly DestinationView[], mode: string | undefined): PathProblem[] {
  const problems: PathProblem[] = [];
  const names = destinations.flatMap((destination) => (destination.name === undefined ? [] : [destination.name]));
  for (const destination of destinations) {
    if (destination.data.after === undefined) continue;
    if (mode !== 'dag') {
      if (mode === 'cascade' || mode === 'fanout') {
        const why = mode === 'cascade' ? 'in cascade mode the list order is the chain' : 'in fanout mode every destination runs in parallel';
        problems.push({
          path: ['destinations', destination.index, 'after'],
          at: 'key',
          message: `'after' is only allowed in mode dag (${why}); remove it or set mode: dag`,
        });
      }
      continue;
    }
    for (const entry of destination.after) {
      const path = ['destinations', destination.index, 'after', entry.index];
      if (entry.name === destination.name) {
        problems.push({ path, message: `destination '${entry.name}' cannot come after itself; remove it from its 'after'` });
      } else if (!names.includes(entry.name)) {
        const suggestion = closest(entry.name, names);
        const hint = suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`;
        problems.push({
          path,
          message: `${pathText(path)} names unknown destination '${entry.name}'${hint}; known destinations: ${names.join(', ')}`,
        });
      }
    }
  }
  return problems;
}

/** Each cycle once, printed in the direction events flow, starting at its first destination in the file. */
function checkCycles(destinations: readonly DestinationView[]): PathProblem[] {
  const byName = new Map<string, DestinationView>();
  for (const destination of destinations) {
    if (destination.name !== undefined && !byName.has(destination.name)) byName.set(destination.name, destination);
  }
  const order = [...byName.keys()];
  const parents = (name: string): string[] =>
    (byName.get(name)?.after ?? []).map((entry) => entry.name).filter((parent) => parent !== name && byName.has(parent));

  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const cycles = new Map<string, string[]>();
  const visit = (name: string): void => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const parent of parents(name)) {
      if (state.get(parent) === 'visiting') {
        // stack: ... parent ... name, each following the one before; events flow the other way.
        const flow = stack.slice(stack.indexOf(parent)).reverse();
        const start = flow.reduce((best, candidate) => (order.indexOf(candidate) < order.indexOf(best) ? candidate : best));
        const rotated = [...flow.slice(flow.indexOf(start)), ...flow.slice(0, flow.indexOf(start))];
        cycles.set([...rotated].sort().join(' '), rotated);
      } else if (state.get(parent) === undefined) {
        visit(parent);
      }
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of order) if (state.get(name) === undefined) visit(name);

  return [...cycles.values()].map((cycle) => {
    const [first = '', second = ''] = cycle;
    // Point at the `after` entry of the cycle's first destination that closes the loop.
    const child = byName.get(second);
    const entry = child?.after.find((candidate) => candidate.name === first);
    const path: ValuePath = child === undefined || entry === undefined ? ['destinations'] : ['destinations', child.index, 'after', entry.index];
    return {
      path,
      message: `dependency cycle: ${[...cycle, first].join(' -> ')}; remove one of these 'after' entries`,
    };
  });
}

/** A topic and who uses it; `path` is where the user wrote it (derived topics have none). */
interface TopicClaim {
  readonly topic: string;
  readonly owner: string;
  readonly path?: ValuePath;
  readonly source?: boolean;
}

/**
 * Every topic has one owner: the source is only read, and each output (derived topics, including
 * compensation inputs and the rollout plan's inputs, sink and compensation topics, dead letters,
 * sequencer output) is written by one party.
 */
function checkTopics(root: Data, destinations: readonly DestinationView[], mode: Mode | undefined): PathProblem[] {
  const claims: TopicClaim[] = [];
  const source = record(root.source);
  if (source !== undefined) {
    const sourceTopic = text(source.topic);
    if (sourceTopic !== undefined) claims.push({ topic: sourceTopic, owner: 'the source topic', path: ['source', 'topic'], source: true });
    if (Array.isArray(source.topics)) {
      source.topics.forEach((topic: unknown, index) => {
        if (typeof topic === 'string') claims.push({ topic, owner: 'a source topic', path: ['source', 'topics', index], source: true });
      });
    }
  }
  const name = text(root.name);
  if (name !== undefined) {
    // The rollout's second plan reads its own input topics; a rollout into the own mode is checkRollout's problem.
    const to = text(record(root.rollout)?.to);
    const rolloutMode = to !== undefined && to !== mode && MODES.includes(to) ? (to as Mode) : undefined;
    const seen = new Set<string>();
    for (const destination of destinations) {
      // A repeated name is reported as such; its derived topics would only repeat the news.
      if (destination.name === undefined || seen.has(destination.name)) continue;
      seen.add(destination.name);
      if (mode !== undefined) {
        claims.push({
          topic: destinationInputTopic(name, mode, destination.name),
          owner: `the input topic flowyard derives for destination '${destination.name}'`,
        });
      }
      if (rolloutMode !== undefined) {
        claims.push({
          topic: destinationInputTopic(name, rolloutMode, destination.name),
          owner: `the input topic flowyard derives for destination '${destination.name}' in the ${rolloutMode} rollout plan`,
        });
      }
      if (destination.data.compensate !== undefined) {
        claims.push({
          topic: compensationInputTopic(name, destination.name),
          owner: `the compensation input topic flowyard derives for destination '${destination.name}'`,
        });
      }
    }
    claims.push({ topic: completionsTopic(name), owner: 'the completions topic flowyard derives' });
  }
  for (const destination of destinations) {
    const label = destination.name === undefined ? `destinations[${destination.index}]` : `destination '${destination.name}'`;
    const sink = kafkaSinkTopic(destination.data.sink);
    if (sink !== undefined) {
      claims.push({ topic: sink.topic, owner: `the sink topic of ${label}`, path: ['destinations', destination.index, 'sink', 'topic'] });
    }
    const compensate = kafkaSinkTopic(destination.data.compensate);
    if (compensate !== undefined) {
      claims.push({
        topic: compensate.topic,
        owner: `the compensation topic of ${label}`,
        path: ['destinations', destination.index, 'compensate', 'topic'],
      });
    }
  }
  // After the destinations, as in the file: a collision is reported at the later of the two.
  const dlqTopic = text(record(root.dlq)?.topic);
  if (dlqTopic !== undefined) claims.push({ topic: dlqTopic, owner: 'the dead-letter topic', path: ['dlq', 'topic'] });
  else if (name !== undefined) claims.push({ topic: defaultDlqTopic(name), owner: 'the dead-letter topic flowyard derives' });
  const sequencerOutput = text(record(record(root.ordering)?.sequencer)?.output);
  if (sequencerOutput !== undefined) {
    claims.push({ topic: sequencerOutput, owner: 'the sequencer output topic', path: ['ordering', 'sequencer', 'output'] });
  }

  // Derived claims first: a collision is then reported at the topic the user wrote.
  const ordered = [...claims.filter((claim) => claim.path === undefined), ...claims.filter((claim) => claim.path !== undefined)];
  const problems: PathProblem[] = [];
  const firstClaim = new Map<string, TopicClaim>();
  for (const claim of ordered) {
    const earlier = firstClaim.get(claim.topic);
    if (earlier === undefined) {
      firstClaim.set(claim.topic, claim);
      continue;
    }
    // Two source entries naming one topic are the schema's `uniqueItems` problem.
    if (earlier.source === true && claim.source === true) continue;
    const [input, output] = earlier.source === true ? [earlier, claim] : claim.source === true ? [claim, earlier] : [undefined, claim];
    if (input !== undefined) {
      const at = output.path ?? input.path ?? [];
      problems.push({
        path: at,
        message:
          output.path === undefined
            ? `topic '${claim.topic}' (${input.owner}) is also ${output.owner}: flowyard would read its own output (a loop); rename the source topic or the topology`
            : `topic '${claim.topic}' (${output.owner}) is also ${input.owner}: flowyard would read its own output (a loop); write to another topic`,
      });
    } else {
      problems.push({
        path: claim.path ?? [],
        message: `topic '${claim.topic}' (${claim.owner}) is already ${earlier.owner}; every output needs its own topic`,
      });
    }
  }
  return problems;
}

function checkRetry(destinations: readonly DestinationView[]): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const destination of destinations) {
    const retry = record(destination.data.retry);
    const initial = retry?.initialDelayMs;
    const max = retry?.maxDelayMs;
    if (typeof initial === 'number' && typeof max === 'number' && max < initial) {
      const path = ['destinations', destination.index, 'retry', 'maxDelayMs'];
      problems.push({
        path,
        message: `${pathText(path)} (${max}) is below initialDelayMs (${initial}); raise maxDelayMs or lower initialDelayMs`,
      });
    }
  }
  return problems;
}
