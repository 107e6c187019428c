import type { Command } from 'commander';
import { register as registerAdvise } from './advise.js';
import { register as registerDemo } from './demo.js';
import { register as registerDlq } from './dlq.js';
import { register as registerPlan } from './plan.js';
import { register as registerProduce } from './produce.js';
import { register as registerRun } from './run.js';
import { register as registerSchemas } from './schemas.js';
import { register as registerState } from './state.js';
import { register as registerShadow } from './shadow.js';
import { register as registerTopics } from './topics.js';
import { register as registerTrial } from './trial.js';
import { register as registerValidate } from './validate.js';

/** Each subcommand module exports `register(program)`; list them here once. */
export function registerCommands(program: Command): void {
  registerValidate(program);
  registerPlan(program);
  registerSchemas(program);
  registerTopics(program);
  registerRun(program);
  registerProduce(program);
  registerDemo(program);
  registerDlq(program);
  registerTrial(program);
  registerAdvise(program);
  registerState(program);
  registerShadow(program);
}
