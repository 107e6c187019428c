import type { Command } from 'commander';
import { stateVerdict } from '../../dedup/state-guard.js';
import { recoverState } from './state.js';
import { loadEnv } from '../../config/env.js';
import type { Tail } from '../../kafka/port.js';
import { produce } from '../../kafka/producer.js';
import type { ConsumedRecord } from '../../kafka/records.js';
import { parseCompletion, type Completion } from '../../runtime/completion.js';
import { HEADER } from '../../runtime/headers.js';
import { PlanHost } from '../../runtime/plan-host.js';
import { ROLE_NAMES } from '../../runtime/roles.js';
import { closeSharedClients, createSharedClients } from '../../runtime/shared.js';
import { createLogger } from '../../observability/logger.js';
import { pollUntil } from '../../resilience/poll.js';
import { loadTopology } from '../../topology/load.js';
import { renderText } from '../../topology/render.js';
// demo-destinations.js loads pg; imported when the demo runs, so `flowyard validate` never loads a database driver.
import type { DemoEvent, ReadBack } from '../demo-destinations.js';
import { sampleEvents } from '../sample-events.js';
import { createPlanTopics } from './topics.js';
import { positiveInteger } from '../option-parsers.js';

/** The value the demo adds on purpose to show that bad input goes to the DLQ, not down the pipeline. */
const BAD_EVENT = '{"customerId": "customer-0", "note": "no eventId: this one goes to the dead-letter topic"';

export interface DemoOptions {
  readonly events: number;
  readonly keys: number;
  /** Seconds to wait for every destination before giving up. */
  readonly timeout: number;
}

export interface DemoDestinationResult {
  readonly name: string;
  readonly sinkType: string;
  /** Distinct events with an `ok` / `failed` completion. */
  readonly ok: number;
  readonly failed: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly readBack: ReadBack;
}

export interface DemoResult {
  /** Every destination completed every event and the malformed one reached the DLQ. */
  readonly finished: boolean;
  readonly eventIds: readonly string[];
  readonly destinations: readonly DemoDestinationResult[];
  readonly deadLetters: readonly ConsumedRecord[];
}

function percentile(sorted: readonly number[], q: number): number | undefined {
  return sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Creates the topics and what the sinks need, runs every role of the topology in this
 * process, sends sample events plus one malformed one, waits until each destination completed
 * them, and reads back from each destination what it received. `out` gets the printout.
 */
export async function runDemo(file: string, options: DemoOptions, out: (line?: string) => void): Promise<DemoResult> {
  const env = loadEnv();
  const { plan } = await loadTopology(file);
  out(renderText(plan));
  const logger = createLogger(env.logLevel === 'info' ? 'warn' : env.logLevel);
  const shared = await createSharedClients(env, logger);
  const { records, eventIds } = sampleEvents(plan.source, { count: options.events, keys: options.keys });
  const events: DemoEvent[] = records.map((record, i) => ({ eventId: eventIds[i]!, key: String(record.key), payload: JSON.parse(String(record.value)) as Record<string, unknown> }));
  const { demoDestinations } = await import('../demo-destinations.js');
  const destinations = demoDestinations(plan.destinations, { env, kafka: shared.kafka, redis: shared.redis, logger }, events[0]!);
  const ours = new Set(eventIds);
  const completions = new Map<string, Completion[]>(plan.destinations.map((d) => [d.name, []]));
  const deadLetters: ConsumedRecord[] = [];
  const host = new PlanHost(plan, shared, { roles: new Set(ROLE_NAMES) });
  let tail: Tail | undefined;
  try {
    const topics = await createPlanTopics(plan, shared.kafka);
    out(`\ntopics: ${topics.created.length} created, ${topics.existing.length} already there`);
    for (const destination of destinations) for (const line of await destination.prepare()) out(line);
    tail = await shared.kafka.tail([plan.completionsTopic, plan.dlqTopic], (record) => {
      if (record.topic === plan.dlqTopic) return void deadLetters.push(record);
      const completion = parseCompletion(record);
      if (completion && ours.has(completion.eventId)) completions.get(completion.destination)?.push(completion);
    });
    // A demo's state is throwaway: recover it rather than wait (a local Redis restarted without persistence, or one older than the epoch key).
    if ((await stateVerdict(plan, shared)).kind === 'lost') {
      const recovered = await recoverState(plan, shared, { rebuild: true });
      if (recovered.kind === 'recovered') out(`Redis had lost the state of ${plan.name}; recovered it as \`flowyard state recover\` does (new epoch ${recovered.epoch})`);
    }
    const started = Date.now();
    await host.start();
    const producer = await shared.kafka.producer();
    try {
      for (let i = 0; i < records.length; i += 500) await produce(producer, plan.source.topics[0]!, records.slice(i, i + 500));
      await produce(producer, plan.source.topics[0]!, [{ key: 'customer-0', value: BAD_EVENT }]);
    } finally {
      await producer.disconnect();
    }
    out(`sent ${records.length} events over ${options.keys} keys, plus 1 malformed one, to ${plan.source.topics[0]}`);

    const complete = (name: string) => new Set(completions.get(name)!.map((c) => c.eventId)).size >= records.length;
    const finished = () => plan.destinations.every((d) => complete(d.name)) && deadLetters.length >= 1;
    await pollUntil(finished, { intervalMs: 200, until: Date.now() + options.timeout * 1000 });
    const done = finished();
    out(`\n${done ? 'done' : 'TIMED OUT'} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (!done) {
      const waiting = plan.destinations.filter((d) => !complete(d.name));
      for (const d of waiting) {
        const why = d.releasedBy === 'tracker' ? ` (a join of ${d.after.join(' and ')}: the tracker releases it once all of them completed)` : '';
        out(`  ${d.name}: ${new Set(completions.get(d.name)!.map((c) => c.eventId)).size} of ${records.length} events completed${why}`);
      }
      if (deadLetters.length === 0) out('  the malformed event has not reached the dead-letter topic');
    }

    const results: DemoDestinationResult[] = [];
    for (const [index, destination] of destinations.entries()) {
      const list = completions.get(destination.name)!;
      const latencies = list.map((c) => c.at - c.ingestedAt).sort((a, b) => a - b);
      results.push({
        name: destination.name,
        sinkType: destination.sinkType,
        ok: new Set(list.filter((c) => c.status === 'ok').map((c) => c.eventId)).size,
        failed: new Set(list.filter((c) => c.status === 'failed').map((c) => c.eventId)).size,
        p50Ms: percentile(latencies, 0.5),
        p99Ms: percentile(latencies, 0.99),
        readBack: await destinations[index]!.readBack(events),
      });
    }
    printResults(results, records.length, out);
    for (const letter of deadLetters) {
      out(`\ndead letter on ${plan.dlqTopic}: class ${letter.headers[HEADER.errorClass]}, from ${letter.headers[HEADER.destination]}: ${letter.headers[HEADER.error]}`);
    }
    return { finished: done, eventIds, destinations: results, deadLetters };
  } finally {
    await tail?.stop();
    await host.stop();
    for (const destination of destinations) await destination.close();
    await closeSharedClients(shared);
  }
}

function printResults(results: readonly DemoDestinationResult[], events: number, out: (line?: string) => void): void {
  const show = (n: number | undefined) => (n === undefined ? '-' : String(n));
  out('');
  out('destination      sink      written  failed  p50 ms  p99 ms  (from router ingest to written)');
  for (const r of results) {
    out(`${r.name.padEnd(16)} ${r.sinkType.padEnd(8)}  ${String(r.ok).padStart(7)}  ${String(r.failed).padStart(6)}  ${show(r.p50Ms).padStart(6)}  ${show(r.p99Ms).padStart(6)}`);
  }
  out('\nwhat each destination received, read back from it:');
  for (const r of results) {
    const { where, received, duplicates, samples } = r.readBack;
    const count = received === undefined ? 'not read back' : `${received} of ${events} events${duplicates > 0 ? `, ${duplicates} DUPLICATE entries` : ''}`;
    out(`${r.name}: ${count} in ${where}`);
    for (const sample of samples) out(`    ${sample.length > 160 ? `${sample.slice(0, 157)}...` : sample}`);
  }
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'Create the topics (and a missing PostgreSQL table, a local webhook receiver), run every role of a topology in this process, send sample events through it and print what each destination received, read back from it',
    )
    .argument('<file>', 'topology YAML file')
    .option('--events <n>', 'sample events to send', positiveInteger('--events'), 200)
    .option('--keys <n>', 'distinct causal keys', positiveInteger('--keys'), 20)
    .option('--timeout <seconds>', 'give up waiting after this long', positiveInteger('--timeout'), 120)
    .action(async (file: string, options: DemoOptions) => {
      const result = await runDemo(file, options, (line = '') => void process.stdout.write(`${line}\n`));
      const short = result.destinations.filter((d) => d.readBack.received !== undefined && (d.readBack.received < result.eventIds.length || d.readBack.duplicates > 0));
      if (!result.finished || short.length > 0) process.exitCode = 1;
    });
}
