/**
 * Validation rules of `shadow:` that span fields: the destinations it names exist, it does
 * not combine with `rollout`, its name fits, and nothing it writes is a topic or a sink of
 * the live plan (a shadow must never repeat a live side effect). Defensive like rules.ts:
 * runs on data with schema errors too.
 */
import { isDeepStrictEqual } from 'node:util';
import type { PathProblem } from '../topology/document.js';
import { compensationInputTopic, completionsTopic, defaultDlqTopic, destinationInputTopic, NAME_MAX_LENGTH } from '../topology/names.js';
import type { Mode } from '../topology/plan.js';
import { closest } from '../topology/suggest.js';
import { kafkaSinkTopic } from '../sinks/kafka/config.js';
import { dryRunCompensationTopic, dryRunTopic, SHADOW_SUFFIX, shadowName, shadowSequencerOutput } from './topology.js';

type Data = Record<string, unknown>;

function record(value: unknown): Data | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Data) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const MODES: readonly string[] = ['cascade', 'fanout', 'dag'];

export function checkShadow(data: unknown): PathProblem[] {
  const root = record(data);
  const shadow = record(root?.shadow);
  if (root === undefined || shadow === undefined) return [];
  const problems: PathProblem[] = [];
  const destinations = (Array.isArray(root.destinations) ? root.destinations : []).flatMap((item: unknown) => {
    const entry = record(item);
    const name = text(entry?.name);
    return entry === undefined || name === undefined ? [] : [{ name, data: entry }];
  });
  const names = destinations.map((d) => d.name);

  if (root.rollout !== undefined) {
    problems.push({ path: ['shadow'], message: 'shadow and rollout together: a rollout already splits live traffic between two plans; compare with one of them at a time' });
  }
  const name = text(root.name);
  if (name !== undefined && name.length + SHADOW_SUFFIX.length > NAME_MAX_LENGTH) {
    problems.push({ path: ['name'], message: `the shadow plan is named '${shadowName(name)}', longer than ${NAME_MAX_LENGTH} characters; shorten the topology name` });
  }
  for (const field of ['destinations', 'dryRun'] as const) {
    for (const key of Object.keys(record(shadow[field]) ?? {})) {
      if (names.includes(key)) continue;
      const guess = closest(key, names);
      problems.push({
        path: ['shadow', field, key],
        message: `shadow.${field} names '${key}', which is not a destination of this topology${guess === undefined ? ` (it has ${names.join(', ')})` : ` (did you mean '${guess}'?)`}`,
      });
    }
  }
  if (name === undefined) return problems;

  // What the live plan reads or writes; the shadow may write none of it.
  const mode = text(root.mode);
  const live = new Map<string, string>();
  const claim = (topic: string | undefined, owner: string): void => {
    if (topic !== undefined && !live.has(topic)) live.set(topic, owner);
  };
  const source = record(root.source);
  claim(text(source?.topic), 'the source topic');
  for (const topic of Array.isArray(source?.topics) ? source.topics : []) claim(text(topic), 'a source topic');
  for (const destination of destinations) {
    claim(kafkaSinkTopic(destination.data.sink)?.topic, `the live sink topic of '${destination.name}'`);
    claim(kafkaSinkTopic(destination.data.compensate)?.topic, `the live compensation topic of '${destination.name}'`);
    if (mode !== undefined && MODES.includes(mode)) claim(destinationInputTopic(name, mode as Mode, destination.name), `the live input topic of '${destination.name}'`);
    claim(compensationInputTopic(name, destination.name), `the live compensation input of '${destination.name}'`);
  }
  claim(text(record(root.dlq)?.topic) ?? defaultDlqTopic(name), 'the live dead-letter topic');
  claim(text(record(record(root.ordering)?.sequencer)?.output), 'the live sequencer output');
  claim(completionsTopic(name), 'the live completions topic');

  const dryRuns = record(shadow.dryRun) ?? {};
  for (const destination of destinations) {
    const dryRun = dryRuns[destination.name];
    if (dryRun === undefined) {
      const topic = dryRunTopic(name, destination.name);
      const owner = live.get(topic);
      if (owner !== undefined) problems.push({ path: ['shadow'], message: `the shadow's dry-run topic '${topic}' for '${destination.name}' is ${owner}; give shadow.dryRun.${destination.name} another destination` });
      continue;
    }
    if (isDeepStrictEqual(dryRun, destination.data.sink)) {
      problems.push({
        path: ['shadow', 'dryRun', destination.name],
        message: `shadow.dryRun.${destination.name} is the live sink of '${destination.name}': the shadow would write it a second time; point it at a recorder, or leave it out for the Kafka topic ${dryRunTopic(name, destination.name)}`,
      });
      continue;
    }
    const topic = kafkaSinkTopic(dryRun)?.topic;
    const owner = topic === undefined ? undefined : live.get(topic);
    if (owner !== undefined) {
      problems.push({ path: ['shadow', 'dryRun', destination.name, 'topic'], message: `topic '${topic}' is ${owner}: the shadow would write into the live plan; give the dry run a topic of its own` });
    }
  }
  // The shadow's derived topics start with `<name>-shadow.`, which the live derived ones never do; a user's topic may.
  const shadowMode = text(shadow.mode) ?? mode;
  const derived = [
    completionsTopic(shadowName(name)),
    defaultDlqTopic(shadowName(name)),
    shadowSequencerOutput(name),
    ...destinations.flatMap((d) => [
      ...(shadowMode !== undefined && MODES.includes(shadowMode) ? [destinationInputTopic(shadowName(name), shadowMode as Mode, d.name)] : []),
      dryRunCompensationTopic(name, d.name),
    ]),
  ];
  for (const topic of derived) {
    const owner = live.get(topic);
    if (owner !== undefined) problems.push({ path: ['shadow'], message: `the shadow plan's topic '${topic}' is ${owner}; rename that topic or the topology` });
  }
  return problems;
}
