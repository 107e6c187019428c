/**
 * Every sink type flowyard knows, registered once. The topology schema, its published JSON
 * Schema, the validation of `sink` / `compensate`, the README's sink reference and the
 * creation of sinks at run time all read this list, so a new sink is one module
 * (`src/sinks/<type>/index.ts` exporting `defineSink({ spec, create })`) plus one line here.
 */
import type { SinkConfig } from '../topology/plan.js';
import type { SinkContext, SinkDefinition, SinkSpec } from './define.js';
import type { Sink } from './sink.js';
import kafkaSink from './kafka/index.js';
import httpSink from './http/index.js';
import redisSink from './redis/index.js';
import postgresSink from './postgres/index.js';

/** The registered sinks, in the order docs list them. */
export const sinks: readonly SinkDefinition[] = [kafkaSink, httpSink, redisSink, postgresSink];

/** Their specs, in the same order. */
export const sinkSpecs: readonly SinkSpec[] = sinks.map((sink) => sink.spec);

/** The spec of a sink type, or undefined for a type nobody registered. */
export function sinkSpec(type: string): SinkSpec | undefined {
  return sinkSpecs.find((spec) => spec.type === type);
}

/** Registered sink types, for messages such as "known types: kafka". */
export function sinkTypes(): string[] {
  return sinkSpecs.map((spec) => spec.type);
}

/** Builds the sink a config selects; its driver is imported now, not when the registry loads. */
export async function createSink(config: SinkConfig, context: SinkContext): Promise<Sink> {
  const sink = sinks.find((candidate) => candidate.spec.type === config.type);
  // Validation rejects unknown types before a plan exists; reaching here is a bug.
  if (sink === undefined) throw new Error(`no sink registered for type ${JSON.stringify(config.type)}`);
  return sink.create(config, context);
}
