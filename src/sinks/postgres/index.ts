/** The `postgres` sink module: its spec (config.ts) and its writer (sink.ts, imported only when a sink is created). */
import { defineSink } from '../define.js';
import { postgresSinkSpec } from './config.js';

export default defineSink({
  spec: postgresSinkSpec,
  async create(config, context) {
    const { createPostgresSink } = await import('./sink.js');
    return createPostgresSink(config, context);
  },
});
