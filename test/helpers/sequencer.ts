/**
 * Sequencer test helpers: the tracker's verdicts written straight onto a completions topic,
 * and a tail of the sequenced output with a per-key order check.
 */
import { produce } from '../../src/kafka/producer.js';
import type { ConsumedRecord } from '../../src/kafka/records.js';
import type { Tail } from '../../src/kafka/port.js';
import { completionsRecord, type EventOutcome } from '../../src/runtime/completion.js';
import { HEADER } from '../../src/runtime/headers.js';
import type { KafkaPort } from '../../src/kafka/port.js';
import type { Plan } from '../../src/topology/plan.js';
import { readToHighWatermark } from './read-topic.js';

/** One record of the sequenced output, read from its headers. */
export interface Sequenced {
  readonly key: string;
  readonly seq: number;
  readonly eventId: string;
  readonly value: string | null;
}

export class SequencedOutput {
  private constructor(
    /** In the order read; per key that is the output order (one partition per key). */
    readonly records: Sequenced[],
    private readonly tail: Tail,
  ) {}

  /** Tails `plan.sequencer.output` from its current end. */
  static async tail(kafka: KafkaPort, plan: Plan): Promise<SequencedOutput> {
    if (plan.sequencer === undefined) throw new Error(`topology ${plan.name} has no ordering.sequencer`);
    const records: Sequenced[] = [];
    const tail = await kafka.tail([plan.sequencer.output], (record: ConsumedRecord) => {
      records.push({
        key: record.headers[HEADER.key] ?? '',
        seq: Number(record.headers[HEADER.seq]),
        eventId: record.headers[HEADER.eventId] ?? '',
        value: record.value === null ? null : record.value.toString('utf8'),
      });
    });
    return new SequencedOutput(records, tail);
  }

  seqsOf(key: string): number[] {
    return this.records.filter((r) => r.key === key).map((r) => r.seq);
  }

  async stop(): Promise<void> {
    await this.tail.stop();
  }
}

/** Event ids emitted more than once, missing among `expected`, and keys whose seqs do not increase. */
export function checkSequenced(records: readonly Sequenced[], expected: readonly string[]): { missing: string[]; duplicated: string[]; outOfOrderKeys: string[] } {
  const counts = new Map<string, number>();
  const lastSeq = new Map<string, number>();
  const outOfOrder = new Set<string>();
  for (const r of records) {
    counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
    if ((lastSeq.get(r.key) ?? 0) >= r.seq) outOfOrder.add(r.key);
    lastSeq.set(r.key, r.seq);
  }
  return {
    missing: expected.filter((id) => !counts.has(id)),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    outOfOrderKeys: [...outOfOrder],
  };
}

/** A verdict as the tracker writes it; the value is `{"key":..,"seq":..}`. */
export function outcome(plan: Plan, key: string, seq: number, status: 'completed' | 'failed' = 'completed'): EventOutcome {
  const eventId = `${key}-${seq}`;
  return {
    kind: 'event',
    status,
    failed: status === 'failed' ? ['somewhere'] : [],
    eventId,
    key,
    seq,
    plan: plan.id,
    ingestedAt: Date.now(),
    at: Date.now(),
    value: Buffer.from(JSON.stringify({ key, seq })),
    origin: { topic: `${plan.name}.test`, partition: 0, offset: String(seq) },
  };
}

/** Writes verdicts onto the plan's completions topic, keyed by the causal key like the tracker. */
export async function produceOutcomes(kafka: KafkaPort, plan: Plan, outcomes: readonly EventOutcome[]): Promise<void> {
  const producer = await kafka.producer();
  try {
    for (let i = 0; i < outcomes.length; i += 500) await produce(producer, plan.completionsTopic, outcomes.slice(i, i + 500).map(completionsRecord));
  } finally {
    await producer.disconnect();
  }
}

/**
 * Everything on `plan.sequencer.output` up to its high watermark, read_committed (as readers
 * of the output must read it). Call after the sequencer drained (untilDrained): a repeat the
 * sequencer would write is then already there.
 */
export async function readSequenced(kafka: KafkaPort, plan: Plan): Promise<Sequenced[]> {
  if (plan.sequencer === undefined) throw new Error(`topology ${plan.name} has no ordering.sequencer`);
  const records = await readToHighWatermark(kafka, [plan.sequencer.output]);
  return records.map((record) => ({
    key: record.headers[HEADER.key] ?? '',
    seq: Number(record.headers[HEADER.seq]),
    eventId: record.headers[HEADER.eventId] ?? '',
    value: record.value === null ? null : record.value.toString('utf8'),
  }));
}
