/**
 * The sequencer takes only verdicts from the completions topic, by `fy-kind` alone: the
 * destination reports the tracker reads, and records of a kind flowyard does not know, are
 * skipped without reading their value (no "not understood" warning, nothing emitted for them).
 */
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import type { Logger } from '../../../src/observability/logger.js';
import { completionsRecord, type EventOutcome } from '../../../src/runtime/completion.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { SequencerBuffer } from '../../../src/sequencer/buffer.js';
import { SequencerSteps, type Held, type PartitionState } from '../../../src/sequencer/executor.js';
import { PartitionProgress } from '../../../src/sequencer/progress.js';

function consumed(offset: number, value: Buffer | null, headers: Record<string, string>): ConsumedRecord {
  return { topic: 'shop.completions', partition: 0, offset: String(offset), key: null, value, headers, timestamp: 0 };
}

function stringHeaders(outgoing: ReturnType<typeof completionsRecord>): Record<string, string> {
  return Object.fromEntries(Object.entries(outgoing.headers ?? {}).map(([name, v]) => [name, String(v)]));
}

test('verdicts are sequenced; destination reports and unknown kinds are skipped by the header, unparsed', async () => {
  const warnings: unknown[] = [];
  const logger = { warn: (...args: unknown[]) => void warnings.push(args), debug: () => undefined, info: () => undefined } as unknown as Logger;
  const steps = new SequencerSteps({ holdMs: 2_000, logger, readStored: async (groups) => new Map(groups.map((g) => [g, { nextExpected: 1n, skipped: [], assumeLateThrough: 0n }])) });
  const state: PartitionState = {
    buffer: new SequencerBuffer<Held>({ holdMs: 2_000, maxPerGroup: 100, maxBuffered: 1_000, maxIdleGroups: 1_000 }),
    progress: new PartitionProgress(),
    repaired: undefined,
  };
  const origin = { topic: 'shop.fanout.a', partition: 0, offset: '0' };
  const event = (seq: number): EventOutcome => ({ kind: 'event', status: 'completed', failed: [], eventId: `e-${seq}`, key: 'k', seq, plan: 'shop@1', ingestedAt: 1, at: 2, value: Buffer.from(`v${seq}`), origin });
  const verdict = (offset: number, seq: number) => {
    const out = completionsRecord(event(seq));
    return consumed(offset, out.value as Buffer, stringHeaders(out));
  };
  const report = completionsRecord({ ...event(9), kind: 'destination', destination: 'a', status: 'ok', attempts: 1 });

  const pending = await steps.batch(0, state, [
    verdict(0, 1),
    consumed(1, Buffer.from('not json {'), { [HEADER.kind]: 'audit' }),
    consumed(2, Buffer.from('\u0000binary'), stringHeaders(report)),
    verdict(3, 2),
  ]);

  expect(pending.outputs.map((o) => String(o.record.value))).toEqual(['v1', 'v2']);
  expect(pending.deadLetters).toEqual([]);
  expect(warnings).toEqual([]);
});
