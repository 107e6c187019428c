/** The `redis` sink module: its spec (config.ts) and its writer (sink.ts, imported only when a sink is created). */
import { defineSink } from '../define.js';
import { redisSinkSpec } from './config.js';

export default defineSink({
  spec: redisSinkSpec,
  async create(config, context) {
    const { createRedisSink } = await import('./sink.js');
    return createRedisSink(config, context);
  },
});
