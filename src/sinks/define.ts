/**
 * What one sink module is: its spec (type, summary, config schema, defaults, examples,
 * delivery guarantee) and how to create its writer, declared together with `defineSink` and
 * registered once in `registry.ts`. The spec drives validation, the published JSON Schema and
 * the README's sink reference; `create` imports the writer (and its driver: pg, undici,
 * ioredis, kafkajs) only when a sink is built, so `flowyard validate` loads none of them.
 */
import type { Static, TObject } from '@sinclair/typebox';
import type { Env } from '../config/env.js';
import type { KafkaPort } from '../kafka/port.js';
import type { Logger } from '../observability/logger.js';
import type { SinkConfig } from '../topology/plan.js';
import type { Sink } from './sink.js';

/** What a sink module declares about its configuration and behaviour. */
export interface SinkSpec<S extends TObject = TObject> {
  /** The value of `type` that selects this sink in a topology. */
  readonly type: string;
  /** One line for help texts and generated docs. */
  readonly summary: string;
  /** Schema of the sink's config; its `type` property is the literal `type` above. Field descriptions are the reference docs. */
  readonly configSchema: S;
  /**
   * What an omitted optional field means, for the docs. Not a JSON Schema `default`: those
   * would be filled into every topology and change plan ids of existing topologies.
   */
  readonly defaults: Readonly<Partial<Record<keyof Static<S> & string, string | number>>>;
  /** Valid configs, shown in docs and checked by a test. */
  readonly examples: readonly Static<S>[];
  /**
   * The delivery guarantee, said plainly: what makes a redelivered event (the worker's crash
   * window between the write and its done-key) write once or twice, and which errors are
   * permanent (dead-lettered at once) or retriable.
   */
  readonly delivery: string;
  /**
   * Whether writing the same event (same event id) twice leaves one side effect. The sink
   * conformance suite holds every sink to this; a sink that is not idempotent says in
   * `delivery` how readers drop the repeat.
   */
  readonly idempotent: boolean;
}

/** What a sink may use besides its own config. */
export interface SinkContext {
  /** Destination name, for logs and connection names. */
  readonly destination: string;
  /** The destination's `concurrency`: bound connection pools by it. */
  readonly concurrency: number;
  /** The destination's `timeoutMs`; the worker also aborts the write's signal after it. */
  readonly timeoutMs: number;
  readonly kafka: KafkaPort;
  readonly env: Env;
  readonly logger: Logger;
}

/** Builds a sink's writer; tests and benchmarks pass their own in place of the registered ones. */
export type SinkFactory = (config: SinkConfig, context: SinkContext) => Sink | Promise<Sink>;

/** One sink module: its spec and its factory. */
export interface SinkDefinition<S extends TObject = TObject> {
  readonly spec: SinkSpec<S>;
  /** Imports the writer lazily (see the module comment) and builds it; no I/O before `start()`. */
  readonly create: (config: SinkConfig, context: SinkContext) => Promise<Sink>;
}

/** Declares a sink module; the identity function, there for the types and one shape per module. */
export function defineSink<S extends TObject>(definition: SinkDefinition<S>): SinkDefinition<S> {
  return definition;
}
