/**
 * `flowyard dlq replay`: puts dead letters of one destination back on its input topic.
 *
 * Reads the DLQ from its start (or from `--since`) up to the high watermarks taken when the
 * command starts, so it ends even while workers keep dead-lettering. Idempotency across runs
 * rests on the worker's done-keys: a record whose done-key is present is not written again,
 * and one replayed twice before the worker got to it is written by the worker once.
 */
import { Option, type Command } from 'commander';
import { loadEnv } from '../../config/env.js';
import { DedupStore } from '../../dedup/store.js';
import { InvalidInputError, RuntimeFailure } from '../../errors.js';
import { stateVerdict } from '../../dedup/state-guard.js';
import type { KafkaPort } from '../../kafka/port.js';
import { produce } from '../../kafka/producer.js';
import { topicRange } from '../../kafka/range-reader.js';
import { withCarried, type ConsumedRecord, type OutgoingRecord } from '../../kafka/records.js';
import { createLogger } from '../../observability/logger.js';
import type { DeadLetterClass } from '../../runtime/dead-letter.js';
import { HEADER, fromHeaders } from '../../runtime/headers.js';
import { closeSharedClients, createSharedClients } from '../../runtime/shared.js';
import type { Redis } from '../../redis/connection.js';
import { loadTopology } from '../../topology/load.js';
import type { Plan, WorkerSlice } from '../../topology/plan.js';

export const DEAD_LETTER_CLASSES: readonly DeadLetterClass[] = ['invalid', 'destination', 'timeout', 'circuit-open', 'late', 'compensation', 'oversized'];

/** Headers only a dead letter carries; a replayed record must look like a routed copy again. */
const DEAD_LETTER_HEADERS: readonly string[] = [HEADER.error, HEADER.errorClass, HEADER.destination, HEADER.attempts, HEADER.origin];

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const DURATION_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** An ISO 8601 date or date-time; Date.parse alone also accepts forms like "March 7". */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** `--since`: a duration back from `now` (`90s`, `15m`, `2h`, `7d`) or an ISO time; ms since epoch. */
export function parseSince(value: string, now: number = Date.now()): number {
  const duration = DURATION.exec(value.trim());
  if (duration) return now - Number(duration[1]) * DURATION_MS[duration[2]!]!;
  const at = ISO_TIME.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new InvalidInputError(`--since: ${JSON.stringify(value)} is neither a duration (e.g. 30m, 2h, 7d) nor an ISO time (e.g. 2024-05-01T12:00:00Z)`);
  }
  return at;
}

export interface ReplaySelection {
  readonly destination: string;
  readonly errorClass?: DeadLetterClass;
}

/** What to do with one dead letter. */
export type ReplayDecision =
  /** Another destination's, or another class. */
  | { readonly kind: 'other' }
  | { readonly kind: 'not-replayable'; readonly reason: string }
  | {
      readonly kind: 'replay';
      readonly eventId: string;
      /** Where it goes: the destination's input topic, or its compensation input for class `compensation`. */
      readonly topic: string;
      /** The worker's done-key name for that topic. */
      readonly doneName: string;
      readonly record: OutgoingRecord;
    };

/**
 * The destination as the plan that dead-lettered the record has it: during a rollout the
 * second plan (the other mode) has its own input topics. A letter from a plan that is no
 * longer running goes to the current plan.
 */
function workerFor(plan: Plan, letterPlan: string | undefined, name: string, kind: WorkerSlice['kind']): WorkerSlice | undefined {
  const owner = plan.rollout !== undefined && letterPlan === plan.rollout.plan.id ? plan.rollout.plan : plan;
  return owner.slices.workers.find((w) => w.destination === name && w.kind === kind);
}

/** The record as the worker first consumed it: dead-letter headers gone, a fresh attempt count. */
export function replayRecord(letter: Pick<ConsumedRecord, 'key' | 'value' | 'headers' | 'carriedHeaders'>): OutgoingRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(letter.headers)) if (!DEAD_LETTER_HEADERS.includes(name)) headers[name] = value;
  headers[HEADER.attempt] = '1';
  // Headers of other systems go back byte-exact (their string copies in `headers` are not).
  return { key: letter.key, value: letter.value, headers, ...withCarried(letter.carriedHeaders) };
}

/** Decides, without I/O, whether `letter` is selected and whether it can go back to a destination. */
export function decideReplay(letter: ConsumedRecord, plan: Plan, selection: ReplaySelection): ReplayDecision {
  const destination = letter.headers[HEADER.destination];
  const errorClass = letter.headers[HEADER.errorClass];
  if (selection.errorClass !== undefined && errorClass !== selection.errorClass) return { kind: 'other' };
  // The router's dead letters belong to no destination yet; they are shown so nobody wonders where they went.
  if (destination === 'router') {
    return { kind: 'not-replayable', reason: `rejected by the router before routing (${errorClass ?? 'no class'}): fix the event and produce it to the source topic again` };
  }
  if (destination !== selection.destination) return { kind: 'other' };
  if (errorClass === 'late') return { kind: 'not-replayable', reason: 'class late: the destinations wrote it; only the sequenced output skipped it' };
  if (letter.headers[HEADER.truncated] !== undefined) {
    return { kind: 'not-replayable', reason: `value truncated from ${letter.headers[HEADER.truncated]} bytes: the full event is at fy-origin ${letter.headers[HEADER.origin] ?? '?'}` };
  }
  const parsed = fromHeaders(letter.headers);
  if (!parsed.ok) return { kind: 'not-replayable', reason: parsed.reason };
  const letterPlan = letter.headers[HEADER.plan];
  const writer = workerFor(plan, letterPlan, selection.destination, 'write');
  if (writer === undefined) return { kind: 'not-replayable', reason: `destination ${selection.destination} is not in plan ${plan.id}` };
  // A failed compensation goes back to the compensation worker, the rest to the destination's.
  const worker = errorClass === 'compensation' ? workerFor(plan, letterPlan, selection.destination, 'compensation') : writer;
  if (worker === undefined) return { kind: 'not-replayable', reason: `a failed compensation, but ${writer.destination} no longer declares compensate` };
  return { kind: 'replay', eventId: parsed.event.eventId, topic: worker.inputTopic, doneName: worker.doneKeyName, record: replayRecord(letter) };
}

export interface ReplayOptions extends ReplaySelection {
  /** ms since epoch; read the DLQ from the first record at or after it. */
  readonly since?: number;
  readonly dryRun: boolean;
  /** Give up when reading stalls this long (an open transaction that never ends, a broker gone). */
  readonly stallTimeoutMs?: number;
}

export interface ReplaySummary {
  readonly replayed: number;
  readonly alreadyDone: number;
  readonly notReplayable: number;
  /** The same event selected again further on in the DLQ (it failed again after an earlier replay). */
  readonly repeated: number;
}

export function summaryLine(summary: ReplaySummary, dryRun: boolean): string {
  const repeated = summary.repeated > 0 ? `, ${summary.repeated} repeated in the DLQ` : '';
  return `${dryRun ? 'would replay' : 'replayed'} ${summary.replayed}, skipped ${summary.alreadyDone} already done, ${summary.notReplayable} not replayable${repeated}`;
}

function oneLine(text: string | undefined): string {
  return (text ?? '').replace(/\s+/g, ' ');
}

/**
 * Reads `plan.dlqTopic` up to its watermarks at the start and puts the selected dead letters
 * back (or, with `dryRun`, only lists them). `out` gets one line per selected record.
 */
export async function replayDeadLetters(plan: Plan, clients: { kafka: KafkaPort; redis: Redis }, options: ReplayOptions, out: (line: string) => void): Promise<ReplaySummary> {
  const counts = { replayed: 0, alreadyDone: 0, notReplayable: 0, repeated: 0 };
  const range = await topicRange(clients.kafka, plan.dlqTopic, options.since);
  if (range === undefined) {
    out(`${plan.dlqTopic} does not exist: nothing was dead-lettered`);
    return counts;
  }
  const dedup = new DedupStore(clients.redis, plan.name, plan.dedup.ttlSeconds);
  const seen = new Set<string>();
  const producer = options.dryRun ? undefined : await clients.kafka.producer();
  const handle = async (letters: readonly ConsumedRecord[]): Promise<void> => {
    const decided = letters.map((letter) => ({ letter, decision: decideReplay(letter, plan, options) }));
    const wanted = decided.flatMap(({ letter, decision }) => (decision.kind === 'replay' ? [{ letter, decision }] : []));
    const done = new Map<string, Set<string>>();
    for (const doneName of new Set(wanted.map((w) => w.decision.doneName))) {
      done.set(doneName, await dedup.done(doneName, wanted.filter((w) => w.decision.doneName === doneName).map((w) => w.decision.eventId)));
    }
    const byTopic = new Map<string, OutgoingRecord[]>();
    const lines: string[] = [];
    for (const { letter, decision } of decided) {
      const at = `${letter.partition}/${letter.offset}`;
      const cls = letter.headers[HEADER.errorClass] ?? '-';
      if (decision.kind === 'other') continue;
      if (decision.kind === 'not-replayable') {
        counts.notReplayable += 1;
        lines.push(`not replayable  ${at}  ${letter.headers[HEADER.eventId] ?? '-'}  ${cls}  ${decision.reason}`);
        continue;
      }
      if (done.get(decision.doneName)!.has(decision.eventId)) {
        counts.alreadyDone += 1;
        lines.push(`already done    ${at}  ${decision.eventId}  ${cls}`);
        continue;
      }
      const id = `${decision.topic}\u0000${decision.eventId}`;
      if (seen.has(id)) {
        counts.repeated += 1;
        lines.push(`repeated        ${at}  ${decision.eventId}  ${cls}  (an earlier dead letter of this event is replayed)`);
        continue;
      }
      seen.add(id);
      counts.replayed += 1;
      lines.push(`${options.dryRun ? 'would replay' : 'replay      '}    ${at}  ${decision.eventId}  ${cls}  ${oneLine(letter.headers[HEADER.error])}`);
      const list = byTopic.get(decision.topic);
      if (list === undefined) byTopic.set(decision.topic, [decision.record]);
      else list.push(decision.record);
    }
    // Written before the lines are printed: a printed `replay` line is a record on the topic.
    if (producer) for (const [topic, records] of byTopic) await produce(producer, topic, records);
    for (const line of lines) out(line);
  };

  try {
    await clients.kafka.readRange(plan.dlqTopic, range, handle, { purpose: 'flowyard-dlq-replay', ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }) });
    return counts;
  } finally {
    await producer?.disconnect();
  }
}

export function register(program: Command): void {
  const dlq = program.command('dlq').description('Work with the dead-letter topic of a topology');
  dlq
    .command('replay')
    .description(
      "Put one destination's dead letters back on its input topic with a fresh attempt count; events its done-key marks as written are skipped. Reads the DLQ up to its end at start, then stops",
    )
    .argument('<file>', 'topology YAML file')
    .requiredOption('--destination <name>', 'replay dead letters of this destination (fy-destination)')
    .addOption(new Option('--class <class>', 'only dead letters of this class (fy-error-class)').choices(DEAD_LETTER_CLASSES))
    .option('--since <time>', 'only dead letters written since this ISO time or this long ago (30m, 2h, 7d)')
    .option('--dry-run', 'list what would be replayed (offset, event id, class, error) and write nothing', false)
    .addHelpText(
      'after',
      '\nPrints one line per selected record, then `replayed N, skipped M already done, K not replayable`.\n' +
        "Not replayable: the router's dead letters (no event id yet) and `late` arrivals. Exit 2 for an unknown destination, class or --since.",
    )
    .action(async (file: string, options: { destination: string; class?: DeadLetterClass; since?: string; dryRun: boolean }) => {
      const since = options.since === undefined ? undefined : parseSince(options.since);
      const env = loadEnv();
      const { plan } = await loadTopology(file);
      if (!plan.destinations.some((d) => d.name === options.destination)) {
        throw new InvalidInputError(`--destination: ${options.destination} not in topology ${plan.name} (it has ${plan.destinations.map((d) => d.name).join(', ')})`);
      }
      const shared = await createSharedClients(env, createLogger(env.logLevel === 'info' ? 'warn' : env.logLevel));
      try {
        // Skipping rests on done-keys: with the state lost, every letter would look not done.
        const verdict = await stateVerdict(plan, shared);
        if (verdict.kind === 'lost') throw new RuntimeFailure(`Redis lost the state of topology ${plan.name} (${verdict.reason}); run \`flowyard state recover\` first, nothing was replayed`);
        const out = (line: string) => void process.stdout.write(`${line}\n`);
        const summary = await replayDeadLetters(
          plan,
          shared,
          { destination: options.destination, ...(options.class && { errorClass: options.class }), ...(since !== undefined && { since }), dryRun: options.dryRun },
          out,
        );
        out(summaryLine(summary, options.dryRun));
      } finally {
        await closeSharedClients(shared);
      }
    });
}
