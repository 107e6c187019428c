/**
 * Name rules and derived names (docs/architecture.md §4), shared by the schema, the graph rules and
 * the planner so that validation checks exactly the names the planner will produce.
 */
import { Type, type TString, type TUnsafe } from '@sinclair/typebox';
import type { Mode } from './plan.js';

/** Topology and destination names: they prefix topics and consumer groups, so keep them plain. */
export const NAME_PATTERN = '^[a-z][a-z0-9-]*$';
export const NAME_MAX_LENGTH = 100;
export const NAME_RULE = "lowercase letters, digits and '-', starting with a letter";

/** Kafka's own rule for topic names (legal characters, at most 249 of them). */
export const TOPIC_PATTERN = '^[a-zA-Z0-9._-]+$';
export const TOPIC_MAX_LENGTH = 249;
export const TOPIC_RULE = "letters, digits, '.', '_' and '-'";

/** A dotted field path such as `customer.id`: no empty segments, no whitespace. */
export const FIELD_PATH_PATTERN = '^[^.\\s]+(\\.[^.\\s]+)*$';
export const FIELD_PATH_RULE = 'a dotted field path such as customer.id';

/**
 * Destination names that would give a worker the consumer group of another role
 * (`<name>.router`, `<name>.tracker`, `<name>.sequencer`).
 */
export const RESERVED_DESTINATION_NAMES: readonly string[] = ['router', 'tracker', 'sequencer'];

/** Schema of a topology or destination name. */
export function ResourceName(options: { description: string }): TString {
  return Type.String({ pattern: NAME_PATTERN, minLength: 1, maxLength: NAME_MAX_LENGTH, ...options });
}

/** Schema of a Kafka topic name. */
export function KafkaTopicName(options: { description: string }): TString {
  return Type.String({ pattern: TOPIC_PATTERN, minLength: 1, maxLength: TOPIC_MAX_LENGTH, ...options });
}

/** Input topic of a destination's worker: `<name>.<mode>.<destination>`. */
export function destinationInputTopic(name: string, mode: Mode, destination: string): string {
  return `${name}.${mode}.${destination}`;
}

/** Input topic of a destination's compensation worker. */
export function compensationInputTopic(name: string, destination: string): string {
  return `${name}.compensate.${destination}`;
}

/** Group of a destination's compensation worker; destination names hold no '.', so it never meets `<name>.<destination>`. */
export function compensationGroup(name: string, destination: string): string {
  return `${name}.${destination}.compensate`;
}

/** Done-key name (and metric label) of a destination's compensation worker; never another destination's, names hold no '.'. */
export function compensationDoneKeyName(destination: string): string {
  return `${destination}.compensate`;
}

export function completionsTopic(name: string): string {
  return `${name}.completions`;
}

export function defaultDlqTopic(name: string): string {
  return `${name}.dlq`;
}

export function roleGroup(name: string, role: 'router' | 'tracker' | 'sequencer'): string {
  return `${name}.${role}`;
}

export function destinationGroup(name: string, destination: string): string {
  return `${name}.${destination}`;
}

/** `customer.id` -> ['customer', 'id']. */
export function fieldPath(path: string): string[] {
  return path.split('.');
}

/** A closed set of strings as `enum` (one clear ajv error, unlike a union of literals). */
export function StringEnum<T extends string>(values: readonly T[], options: { description: string; default?: T }): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}
