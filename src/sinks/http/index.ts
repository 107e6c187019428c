/** The `http` sink module: its spec (config.ts) and its writer (sink.ts, imported only when a sink is created). */
import { defineSink } from '../define.js';
import { httpSinkSpec } from './config.js';

export default defineSink({
  spec: httpSinkSpec,
  async create(config, context) {
    const { createHttpSink } = await import('./sink.js');
    return createHttpSink(config, context);
  },
});
