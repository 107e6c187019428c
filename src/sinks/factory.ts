/**
 * Builds a sink from its config. Kept apart from `registry.ts` (config specs only) so that
 * validating a topology never loads a database driver.
 */
import type { Env } from '../config/env.js';
import type { KafkaClient } from '../kafka/client.js';
import type { Logger } from '../observability/logger.js';
import type { SinkConfig } from '../topology/plan.js';
import type { Sink } from './sink.js';
import { createKafkaSink } from './kafka/sink.js';
import { createHttpSink } from './http/sink.js';
import { createRedisSink } from './redis/sink.js';
import { createPostgresSink } from './postgres/sink.js';

/** What a sink may use besides its own config. */
export interface SinkContext {
  /** Destination name, for logs and connection names. */
  readonly destination: string;
  /** The destination's `concurrency`: bound connection pools by it. */
  readonly concurrency: number;
  /** The destination's `timeoutMs`; the worker also aborts the write's signal after it. */
  readonly timeoutMs: number;
  readonly kafka: KafkaClient;
  readonly env: Env;
  readonly logger: Logger;
}

export type SinkFactory = (config: SinkConfig, context: SinkContext) => Sink;

/** One entry per sink type; each module exports its factory next to its config spec. */
const factories: Readonly<Record<string, SinkFactory>> = {
  kafka: createKafkaSink,
  http: createHttpSink,
  redis: createRedisSink,
  postgres: createPostgresSink,
};

export function createSink(config: SinkConfig, context: SinkContext): Sink {
  const factory = factories[config.type];
  // Validation rejects unknown types before a plan exists; reaching here is a bug.
  if (factory === undefined) throw new Error(`no factory for sink type ${JSON.stringify(config.type)}`);
  return factory(config, context);
}
