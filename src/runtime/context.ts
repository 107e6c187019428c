import type { Env } from '../config/env.js';
import type { DedupStore } from '../dedup/store.js';
import type { KafkaPort } from '../kafka/port.js';
import type { Metrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { Redis } from '../redis/connection.js';
import type { Plan } from '../topology/plan.js';

/** What every role of one plan receives: its plan and the process's shared clients. */
export interface RoleContext {
  readonly plan: Plan;
  readonly env: Env;
  readonly kafka: KafkaPort;
  readonly redis: Redis;
  readonly dedup: DedupStore;
  readonly metrics: Metrics;
  /** Already bound to `{ plan: plan.id }`. */
  readonly logger: Logger;
}

/** Labels every plan-level series carries. */
export function planLabels(plan: Plan): { topology: string; plan: string } {
  return { topology: plan.name, plan: plan.id };
}
