/**
 * Every sink type flowyard knows, registered once. The topology schema, its
 * published JSON Schema and the validation of `sink` / `compensate` are built from this
 * list, so a new sink module only has to add its spec here.
 */
import type { Static, TObject } from '@sinclair/typebox';
import { kafkaSinkSpec } from './kafka/config.js';
import { httpSinkSpec } from './http/config.js';
import { redisSinkSpec } from './redis/config.js';
import { postgresSinkSpec } from './postgres/config.js';

/** What a sink module declares about its configuration. */
export interface SinkSpec<S extends TObject = TObject> {
  /** The value of `type` that selects this sink in a topology. */
  readonly type: string;
  /** One line for help texts and generated docs. */
  readonly summary: string;
  /** Schema of the sink's config; its `type` property is the literal `type` above. */
  readonly configSchema: S;
  /** Valid configs, shown in docs and checked by a test. */
  readonly examples: readonly Static<S>[];
}

/** The registered sinks, in the order docs list them. */
export const sinkSpecs: readonly SinkSpec[] = [kafkaSinkSpec, httpSinkSpec, redisSinkSpec, postgresSinkSpec];

/** The spec of a sink type, or undefined for a type nobody registered. */
export function sinkSpec(type: string): SinkSpec | undefined {
  return sinkSpecs.find((spec) => spec.type === type);
}

/** Registered sink types, for messages such as "known types: kafka". */
export function sinkTypes(): string[] {
  return sinkSpecs.map((spec) => spec.type);
}
