import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { InvalidInputError } from '../../errors.js';
import { createKafka } from '../../kafka/client.js';
import { createLogger } from '../../observability/logger.js';
import { readTopics } from '../../shadow/read.js';
import { compare, renderHtml, renderMarkdown, renderText } from '../../shadow/report.js';
import { loadTopology } from '../../topology/load.js';
import { parseDuration } from '../../trial/flags.js';

interface ReportOptions {
  out?: string;
  html?: string;
  timeout: string;
}

/** `flowyard shadow report <file>`: the live plan against its shadow, per destination. */
export function register(program: Command): void {
  const shadow = program.command('shadow').description('Shadow plans (`shadow:` in a topology): compare them with the live plan');
  shadow
    .command('report')
    .description(
      "Compare the live plan and its shadow per destination (completed, failed, dead letters, p50/p95/p99 ingest-to-written, keys out of source order, keys written in another order than the other plan), from both plans' completions and dead-letter topics read up to their current ends",
    )
    .argument('<file>', 'topology YAML file with a `shadow:` section')
    .option('--out <file.md>', 'Markdown report (default shadow-report-<name>.md)')
    .option('--html <file.html>', 'also write the report as HTML')
    .option('--timeout <d>', 'bound on reading the topics', '60s')
    .action(async (file: string, options: ReportOptions) => {
      const { plan } = await loadTopology(file);
      if (plan.shadow === undefined) throw new InvalidInputError(`${file}: the topology has no shadow: section; add one and run it before a report`);
      const timeoutMs = parseDuration('--timeout', options.timeout);
      const env = loadEnv();
      const kafka = await createKafka(env.kafka, createLogger(env.logLevel), 'shadow-report');
      const live = plan;
      const twin = plan.shadow;
      const topics = await readTopics(kafka, [live.completionsTopic, live.dlqTopic, twin.completionsTopic, twin.dlqTopic], timeoutMs);
      const comparison = compare(
        live.destinations.map((d) => d.name),
        { plan: live.id, mode: live.mode, completions: topics.get(live.completionsTopic)!, deadLetters: topics.get(live.dlqTopic)! },
        { plan: twin.id, mode: twin.mode, completions: topics.get(twin.completionsTopic)!, deadLetters: topics.get(twin.dlqTopic)! },
      );
      const title = `Shadow report: ${plan.name}`;
      const out = options.out ?? `shadow-report-${plan.name}.md`;
      await writeFile(out, renderMarkdown(comparison, title));
      if (options.html !== undefined) await writeFile(options.html, renderHtml(comparison, title));
      process.stdout.write(`${renderText(comparison)}\n\nreport: ${out}${options.html === undefined ? '' : `, ${options.html}`}\n`);
    });
}
