/**
 * The comparison behind `flowyard shadow report`, pure: the completions and dead letters of
 * the live plan and of its shadow in, per destination figures and per-key order differences
 * out, rendered as text, Markdown and HTML.
 */
import type { ConsumedRecord } from '../kafka/records.js';
import { parseCompletionsRecord, type Completion } from '../runtime/completion.js';
import { HEADER } from '../runtime/headers.js';

export interface SideFigures {
  /** Distinct events written ok. */
  readonly completed: number;
  /** Distinct events that failed for good. */
  readonly failed: number;
  /** Dead letters naming this destination. */
  readonly deadLettered: number;
  /** Ingest -> written, ms, of the completed events (first completion of each). */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Keys in whose writes a later event (by seq) came before an earlier one. */
  readonly keysOutOfSourceOrder: number;
}

export interface DestinationComparison {
  readonly destination: string;
  readonly live: SideFigures;
  readonly shadow: SideFigures;
  /** Events written ok in one plan only. */
  readonly onlyLive: number;
  readonly onlyShadow: number;
  /** Keys whose events (those written in both) were written in another order. */
  readonly keysInAnotherOrder: number;
  /** Keys written in both plans. */
  readonly keysCompared: number;
}

export interface ShadowComparison {
  readonly live: { readonly plan: string; readonly mode: string; readonly events: { completed: number; failed: number } };
  readonly shadow: { readonly plan: string; readonly mode: string; readonly events: { completed: number; failed: number } };
  readonly destinations: readonly DestinationComparison[];
}

export interface PlanRecords {
  readonly plan: string;
  readonly mode: string;
  /** The plan's completions topic, in partition order (one key is one partition). */
  readonly completions: readonly ConsumedRecord[];
  readonly deadLetters: readonly ConsumedRecord[];
}

interface Side {
  /** Per destination: first `ok` completion per event, in completions-topic order. */
  readonly ok: Map<string, Completion[]>;
  readonly failed: Map<string, Set<string>>;
  readonly deadLetters: Map<string, number>;
  readonly events: { completed: number; failed: number };
}

function collect(records: PlanRecords, destinations: readonly string[]): Side {
  const ok = new Map<string, Completion[]>(destinations.map((d) => [d, []]));
  const seen = new Map<string, Set<string>>(destinations.map((d) => [d, new Set()]));
  const failed = new Map<string, Set<string>>(destinations.map((d) => [d, new Set()]));
  const verdicts = new Map<string, 'completed' | 'failed'>();
  for (const record of records.completions) {
    const parsed = parseCompletionsRecord(record);
    if (parsed === undefined) continue;
    if (parsed.kind === 'event') {
      verdicts.set(parsed.eventId, parsed.status);
      continue;
    }
    if (parsed.kind !== 'destination' || !ok.has(parsed.destination)) continue;
    if (parsed.status === 'failed') {
      failed.get(parsed.destination)!.add(parsed.eventId);
      continue;
    }
    // A redelivered completion repeats the first; the first one is when the write happened.
    if (seen.get(parsed.destination)!.has(parsed.eventId)) continue;
    seen.get(parsed.destination)!.add(parsed.eventId);
    ok.get(parsed.destination)!.push(parsed);
  }
  const deadLetters = new Map<string, number>();
  for (const letter of records.deadLetters) {
    const destination = letter.headers[HEADER.destination];
    if (destination !== undefined) deadLetters.set(destination, (deadLetters.get(destination) ?? 0) + 1);
  }
  const values = [...verdicts.values()];
  return { ok, failed, deadLetters, events: { completed: values.filter((v) => v === 'completed').length, failed: values.filter((v) => v === 'failed').length } };
}

/** Nearest-rank percentile of ascending `sorted`. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function byKey(completions: readonly Completion[]): Map<string, Completion[]> {
  const keys = new Map<string, Completion[]>();
  for (const completion of completions) {
    const list = keys.get(completion.key);
    if (list === undefined) keys.set(completion.key, [completion]);
    else list.push(completion);
  }
  return keys;
}

function figures(side: Side, destination: string): SideFigures {
  const ok = side.ok.get(destination)!;
  const latencies = ok.map((c) => c.at - c.ingestedAt).sort((a, b) => a - b);
  let keysOutOfSourceOrder = 0;
  for (const events of byKey(ok).values()) {
    if (events.some((c, i) => i > 0 && c.seq < events[i - 1]!.seq)) keysOutOfSourceOrder += 1;
  }
  return {
    completed: ok.length,
    failed: side.failed.get(destination)!.size,
    deadLettered: side.deadLetters.get(destination) ?? 0,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    keysOutOfSourceOrder,
  };
}

export function compare(destinations: readonly string[], live: PlanRecords, shadow: PlanRecords): ShadowComparison {
  const l = collect(live, destinations);
  const s = collect(shadow, destinations);
  return {
    live: { plan: live.plan, mode: live.mode, events: l.events },
    shadow: { plan: shadow.plan, mode: shadow.mode, events: s.events },
    destinations: destinations.map((destination) => {
      const liveOk = l.ok.get(destination)!;
      const shadowOk = s.ok.get(destination)!;
      const liveIds = new Set(liveOk.map((c) => c.eventId));
      const shadowIds = new Set(shadowOk.map((c) => c.eventId));
      // Order is compared on the events both wrote: an event missing on one side is counted apart.
      const liveKeys = byKey(liveOk.filter((c) => shadowIds.has(c.eventId)));
      const shadowKeys = byKey(shadowOk.filter((c) => liveIds.has(c.eventId)));
      let keysInAnotherOrder = 0;
      for (const [key, events] of liveKeys) {
        const other = shadowKeys.get(key) ?? [];
        if (events.length !== other.length || events.some((c, i) => c.eventId !== other[i]!.eventId)) keysInAnotherOrder += 1;
      }
      return {
        destination,
        live: figures(l, destination),
        shadow: figures(s, destination),
        onlyLive: [...liveIds].filter((id) => !shadowIds.has(id)).length,
        onlyShadow: [...shadowIds].filter((id) => !liveIds.has(id)).length,
        keysInAnotherOrder,
        keysCompared: liveKeys.size,
      };
    }),
  };
}

const COLUMNS = ['destination', 'plan', 'completed', 'failed', 'DLQ', 'p50', 'p95', 'p99', 'keys out of source order', 'written only here', 'keys in another order than the other plan'] as const;

function rows(comparison: ShadowComparison): string[][] {
  return comparison.destinations.flatMap((d) => [
    [d.destination, 'live', ...sideCells(d.live), String(d.onlyLive), `${d.keysInAnotherOrder} of ${d.keysCompared}`],
    ['', 'shadow', ...sideCells(d.shadow), String(d.onlyShadow), ''],
  ]);
}

function sideCells(side: SideFigures): string[] {
  return [String(side.completed), String(side.failed), String(side.deadLettered), ms(side.p50), ms(side.p95), ms(side.p99), String(side.keysOutOfSourceOrder)];
}

function ms(value: number): string {
  return Number.isNaN(value) ? '-' : `${Math.round(value)}ms`;
}

function heading(comparison: ShadowComparison): string[] {
  const { live, shadow } = comparison;
  return [
    `live   ${live.plan} (${live.mode}): ${live.events.completed} events completed, ${live.events.failed} failed`,
    `shadow ${shadow.plan} (${shadow.mode}): ${shadow.events.completed} events completed, ${shadow.events.failed} failed (writes went to dry-run destinations)`,
  ];
}

export function renderText(comparison: ShadowComparison): string {
  const table = [[...COLUMNS], ...rows(comparison)];
  const widths = COLUMNS.map((_c, i) => Math.max(...table.map((r) => r[i]!.length)));
  return [...heading(comparison), '', ...table.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())].join('\n');
}

export function renderMarkdown(comparison: ShadowComparison, title: string): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [
    `# ${title}`,
    '',
    ...heading(comparison).map((h) => `- ${h}`),
    '',
    line(COLUMNS),
    line(COLUMNS.map(() => '---')),
    ...rows(comparison).map(line),
    '',
    'Latency is ingest to written, per plan (the shadow writes to its dry-run destinations). "Keys in another order" compares, per key, the order of the events both plans wrote.',
    '',
  ].join('\n');
}

export function renderHtml(comparison: ShadowComparison, title: string): string {
  const cell = (tag: string, text: string): string => `<${tag}>${escape(text)}</${tag}>`;
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escape(title)}</title>`,
    '<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,td:nth-child(2){text-align:left}</style></head><body>',
    cell('h1', title),
    `<ul>${heading(comparison).map((h) => cell('li', h)).join('')}</ul>`,
    '<table>',
    `<tr>${COLUMNS.map((c) => cell('th', c)).join('')}</tr>`,
    ...rows(comparison).map((r) => `<tr>${r.map((c) => cell('td', c)).join('')}</tr>`),
    '</table></body></html>',
    '',
  ].join('\n');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
