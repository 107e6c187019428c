import type { Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { createProducer, produce } from '../../kafka/producer.js';
import { tailTopics } from '../../kafka/tail.js';
import type { ConsumedRecord } from '../../kafka/records.js';
import { parseCompletion, type Completion } from '../../runtime/completion.js';
import { HEADER } from '../../runtime/headers.js';
import { PlanHost } from '../../runtime/plan-host.js';
import { ROLE_NAMES } from '../../runtime/roles.js';
import { closeSharedClients, createSharedClients } from '../../runtime/shared.js';
import { createLogger } from '../../observability/logger.js';
import { loadTopology } from '../../topology/load.js';
import { renderText } from '../../topology/render.js';
import { sampleEvents } from '../sample-events.js';
import { createPlanTopics } from './topics.js';
import { positiveInteger } from './produce.js';

/** The value the demo adds on purpose to show that bad input goes to the DLQ, not down the pipeline. */
const BAD_EVENT = '{"customerId": "customer-0", "note": "no eventId: this one goes to the dead-letter topic"';

export function register(program: Command): void {
  program
    .command('demo')
    .description('Create the topics, run every role of a topology in this process, send sample events through it and print what each destination got')
    .argument('<file>', 'topology YAML file')
    .option('--events <n>', 'sample events to send', positiveInteger('--events'), 200)
    .option('--keys <n>', 'distinct causal keys', positiveInteger('--keys'), 20)
    .option('--timeout <seconds>', 'give up waiting after this long', positiveInteger('--timeout'), 120)
    .action(async (file: string, options: { events: number; keys: number; timeout: number }) => {
      const env = loadEnv();
      const { plan } = await loadTopology(file);
      const out = (line = '') => process.stdout.write(`${line}\n`);
      out(renderText(plan));
      const shared = await createSharedClients(env, createLogger(env.logLevel === 'info' ? 'warn' : env.logLevel));
      const topics = await createPlanTopics(plan, shared.kafka);
      out(`\ntopics: ${topics.created.length} created, ${topics.existing.length} already there`);

      const { records, eventIds } = sampleEvents(plan.source, { count: options.events, keys: options.keys });
      const ours = new Set(eventIds);
      const completions = new Map<string, Completion[]>(plan.destinations.map((d) => [d.name, []]));
      const deadLetters: ConsumedRecord[] = [];
      const tail = await tailTopics(shared.kafka, [plan.completionsTopic, plan.dlqTopic], (record) => {
        if (record.topic === plan.dlqTopic) return void deadLetters.push(record);
        const completion = parseCompletion(record.value);
        if (completion && ours.has(completion.eventId)) completions.get(completion.destination)?.push(completion);
      });
      const host = new PlanHost(plan, shared, { roles: new Set(ROLE_NAMES) });
      const started = Date.now();
      try {
        await host.start();
        const producer = await createProducer(shared.kafka);
        await produce(producer, plan.source.topics[0]!, [...records, { key: 'customer-0', value: BAD_EVENT }]);
        await producer.disconnect();
        out(`sent ${records.length} events over ${options.keys} keys, plus 1 malformed one, to ${plan.source.topics[0]}`);

        const finished = () => [...completions.values()].every((list) => new Set(list.map((c) => c.eventId)).size >= records.length) && deadLetters.length >= 1;
        const deadline = Date.now() + options.timeout * 1000;
        while (!finished() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        out(`\n${finished() ? 'done' : 'TIMED OUT'} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        out('destination      written  failed  p50 ms  p99 ms  (from router ingest to written)');
        for (const destination of plan.destinations) {
          const list = completions.get(destination.name)!;
          const ok = new Set(list.filter((c) => c.status === 'ok').map((c) => c.eventId)).size;
          const failed = new Set(list.filter((c) => c.status === 'failed').map((c) => c.eventId)).size;
          const latencies = list.map((c) => c.at - c.ingestedAt).sort((a, b) => a - b);
          const pct = (q: number) => (latencies.length === 0 ? '-' : String(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]));
          out(`${destination.name.padEnd(16)} ${String(ok).padStart(7)}  ${String(failed).padStart(6)}  ${pct(0.5).padStart(6)}  ${pct(0.99).padStart(6)}`);
        }
        for (const letter of deadLetters) {
          out(`\ndead letter on ${plan.dlqTopic}: class ${letter.headers[HEADER.errorClass]}, from ${letter.headers[HEADER.destination]}: ${letter.headers[HEADER.error]}`);
        }
        if (!finished()) process.exitCode = 1;
      } finally {
        await tail.stop();
        await host.stop();
        await closeSharedClients(shared);
      }
    });
}
