/**
 * Printable forms of a plan (`flowyard plan --format`): text for people (and golden
 * tests), JSON for tools, Mermaid for diagrams. All deterministic: same plan, same bytes.
 * No form shows secret material that `${ENV}` placeholders put into sink configs: every
 * sink `headers` value prints as `***`, and every sink `url` without its password, query
 * values and fragment (redactUrl). The Plan itself, and so its id, keeps the real values.
 */
import { REDACTED, redactUrl } from '../sinks/shared.js';
import type { Plan, PlanDestination, SinkConfig } from './plan.js';

export type PlanFormat = 'text' | 'json' | 'mermaid';
export const PLAN_FORMATS: readonly PlanFormat[] = ['text', 'json', 'mermaid'];

/** Renders a plan in one of the formats; the result ends without a newline. */
export function renderPlan(plan: Plan, format: PlanFormat): string {
  switch (format) {
    case 'text':
      return renderText(plan);
    case 'json':
      return renderJson(plan);
    case 'mermaid':
      return renderMermaid(plan);
  }
}

/** The plan as JSON (secrets masked); key order is fixed by the planner, so equal plans print equal. */
export function renderJson(plan: Plan): string {
  return JSON.stringify(printablePlan(plan), null, 2);
}

/** The plan with every sink config (destination, compensation, rollout plan) made printable; same key order. */
export function printablePlan(plan: Plan): Plan {
  return {
    ...plan,
    destinations: plan.destinations.map((destination) => ({
      ...destination,
      sink: printableSink(destination.sink),
      ...(destination.compensation !== undefined && {
        compensation: { ...destination.compensation, sink: printableSink(destination.compensation.sink) },
      }),
    })),
    ...(plan.rollout !== undefined && { rollout: { ...plan.rollout, plan: printablePlan(plan.rollout.plan) } }),
    ...(plan.shadow !== undefined && { shadow: printablePlan(plan.shadow) }),
  };
}

/** A sink config for printing: `headers` values masked, `url` redacted, every other field as it is. */
export function printableSink(sink: SinkConfig): SinkConfig {
  const fields = Object.entries(sink).map(([key, value]): [string, unknown] => {
    if (key === 'url' && typeof value === 'string') return [key, redactUrl(value)];
    if (key === 'headers' && typeof value === 'object' && value !== null) {
      return [key, Object.fromEntries(Object.keys(value).map((name) => [name, REDACTED]))];
    }
    return [key, value];
  });
  return Object.fromEntries(fields) as SinkConfig;
}

/** A human-readable description: settings, destinations, edges, topics, roles. */
export function renderText(plan: Plan): string {
  const { source } = plan;
  const sourceDetails = [source.format, ...(source.schema === undefined ? [] : [`schema ${source.schema}`]), `key ${source.keyPath.join('.')}`, `id ${source.idPath.join('.')}`];
  const lines: string[] = [
    `plan ${plan.id}`,
    ...table([
      ['mode', plan.mode],
      ['source', `${source.topics.join(', ')} (${sourceDetails.join(', ')})`],
      ['partitions', `${plan.partitions} per derived topic`],
      ['dedup', `event ids kept ${plan.dedup.ttlSeconds} s`],
      ['dead letters', plan.dlqTopic],
      [
        'sequencer',
        plan.sequencer === undefined ? 'none' : `${plan.sequencer.output} (hold ${plan.sequencer.holdMs} ms, group ${plan.sequencer.group})`,
      ],
      ...(plan.rollout === undefined ? [] : [['rollout', `${plan.rollout.percent}% of keys (by hash bucket) run in plan ${plan.rollout.plan.id} (${plan.rollout.plan.mode})`]]),
      ...(plan.shadow === undefined
        ? []
        : [
            ['shadow', `plan ${plan.shadow.id} (${plan.shadow.mode}) reads the same source with groups ${plan.shadow.name}.*; dry-run destinations:`],
            ...plan.shadow.destinations.map((d) => ['', `${d.name} -> ${describeSink(printableSink(d.sink))}${d.concurrency === plan.destinations.find((l) => l.name === d.name)?.concurrency ? '' : `, concurrency ${d.concurrency}`}`]),
          ]),
    ]).map(indent),
    '',
    'destinations',
    ...plan.destinations.flatMap((destination) => describeDestination(destination).map(indent)),
    '',
    'edges',
    ...table(
      plan.edges.map((edge) => [
        `${edge.from} ${edge.kind === 'join' ? '=>' : '->'} ${edge.to}`,
        `via ${edge.via}`,
        edge.kind === 'join' ? '(join: released by the tracker once all parents completed)' : '',
      ]),
    ).map(indent),
    '',
    'topics',
    ...table([
      ['name', 'partitions', 'purpose', 'owner'],
      ...plan.topics.map((topic) => [
        topic.name,
        topic.purpose === 'source' ? '-' : String(topic.partitions),
        topic.purpose,
        topic.derived ? 'flowyard' : topic.purpose === 'source' ? 'user' : 'user (created if missing)',
      ]),
    ]).map(indent),
    '',
    'roles',
    ...table(
      plan.roles.map((role) => [role.role, role.group, `consumes ${role.consumes.join(', ')}`]),
    ).map(indent),
  ];
  return lines.join('\n');
}

function describeDestination(destination: PlanDestination): string[] {
  const { retry, circuitBreaker: breaker } = destination;
  const from = destination.releasedBy === 'router' ? 'router' : destination.after.join(' + ');
  const join = destination.releasedBy === 'tracker' ? ' (join, released by the tracker)' : '';
  return [
    `${destination.name} <- ${from}${join}, input ${destination.inputTopic}, group ${destination.group}`,
    `  sink ${describeSink(destination.sink)}${destination.compensation === undefined ? '' : `; compensate ${describeSink(destination.compensation.sink)}`}`,
    `  timeout ${destination.timeoutMs} ms; retry ${retry.maxAttempts} attempts, ${retry.initialDelayMs}..${retry.maxDelayMs} ms, budget ${retry.budgetRatio} per ${retry.budgetWindowMs} ms`,
    `  concurrency ${destination.concurrency}; ordering ${destination.ordering}; breaker at ${breaker.failureRatio} of >= ${breaker.minRequests} requests in ${breaker.windowMs} ms, half-open after ${breaker.halfOpenAfterMs} ms`,
    ...(destination.next.length === 0 ? [] : [`  hands on to ${destination.next.join(', ')}`]),
  ];
}

/** `kafka topic=orders.ledger`: the type, then the other fields in their (sorted) plan order; secrets masked. */
export function describeSink(sink: SinkConfig): string {
  const fields = Object.entries(printableSink(sink))
    .filter(([key]) => key !== 'type')
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [sink.type, ...fields].join(' ');
}

/** Left-aligned columns, trailing spaces trimmed. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd());
}

function indent(line: string): string {
  return line === '' ? line : `  ${line}`;
}

/** A `flowchart LR`: source topics -> router -> destinations (-> sinks), joins dotted, tracker and sequencer. */
export function renderMermaid(plan: Plan): string {
  const id = (name: string): string => `d_${name.replace(/-/g, '_')}`;
  const lines: string[] = ['flowchart LR'];
  plan.source.topics.forEach((topic, index) => lines.push(`  src${index}[(${quote(topic)})]`));
  lines.push(`  router([${quote('router')}])`);
  for (const destination of plan.destinations) {
    lines.push(`  ${id(destination.name)}[${quote(destination.name)}]`);
    lines.push(`  ${id(destination.name)}_sink[(${quote(describeSink(destination.sink))})]`);
  }
  lines.push(`  completions[(${quote(plan.completionsTopic)})]`);
  lines.push(`  tracker{{${quote('tracker')}}}`);
  if (plan.sequencer !== undefined) {
    lines.push(`  sequencer{{${quote('sequencer')}}}`);
    lines.push(`  sequenced[(${quote(plan.sequencer.output)})]`);
  }
  plan.source.topics.forEach((_, index) => lines.push(`  src${index} --> router`));
  for (const edge of plan.edges) {
    const from = edge.from === 'router' ? 'router' : id(edge.from);
    const arrow = edge.kind === 'join' ? `-.->|${quote('join')}|` : `-->|${quote(edge.via)}|`;
    lines.push(`  ${from} ${arrow} ${id(edge.to)}`);
  }
  for (const destination of plan.destinations) lines.push(`  ${id(destination.name)} --> ${id(destination.name)}_sink`);
  lines.push('  completions --> tracker');
  if (plan.sequencer !== undefined) lines.push('  tracker --> sequencer', '  sequencer --> sequenced');
  return lines.join('\n');
}

/** A Mermaid label in quotes; `"` has to be an entity inside one. */
function quote(text: string): string {
  return `"${text.replace(/"/g, '#quot;')}"`;
}
