import type { Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import { createKafka } from '../../kafka/client.js';
import { produce } from '../../kafka/producer.js';
import { createLogger } from '../../observability/logger.js';
import { loadTopology } from '../../topology/load.js';
import { positiveInteger } from '../option-parsers.js';
import { sampleEvents } from '../sample-events.js';

export function register(program: Command): void {
  program
    .command('produce')
    .description('Produce sample JSON events to the source topic of a topology')
    .argument('<file>', 'topology YAML file')
    .option('--events <n>', 'how many events', positiveInteger('--events'), 100)
    .option('--keys <n>', 'distinct causal keys (customers)', positiveInteger('--keys'), 10)
    .action(async (file: string, options: { events: number; keys: number }) => {
      const env = loadEnv();
      const { plan } = await loadTopology(file);
      if (plan.source.format !== 'json') throw new InvalidInputError(`${file}: produce writes JSON samples; source format is ${plan.source.format}`);
      const kafka = await createKafka(env.kafka, createLogger('warn'), 'produce');
      const producer = await kafka.producer();
      try {
        const { records } = sampleEvents(plan.source, { count: options.events, keys: options.keys });
        for (let i = 0; i < records.length; i += 500) await produce(producer, plan.source.topics[0]!, records.slice(i, i + 500));
      } finally {
        await producer.disconnect();
      }
      process.stdout.write(`produced ${options.events} events over ${options.keys} keys to ${plan.source.topics[0]}\n`);
    });
}
