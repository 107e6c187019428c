/** The `kafka` sink module: its spec (config.ts) and its writer (sink.ts, imported only when a sink is created). */
import { defineSink } from '../define.js';
import { kafkaSinkSpec } from './config.js';

export default defineSink({
  spec: kafkaSinkSpec,
  async create(config, context) {
    const { createKafkaSink } = await import('./sink.js');
    return createKafkaSink(config, context);
  },
});
