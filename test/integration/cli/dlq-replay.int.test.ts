/**
 * `flowyard dlq replay` on the real broker and Redis, run in-process through the CLI's entry point while the
 * router and workers keep running:
 *
 * - a ledger that refuses some events for good (a 4xx-like permanent error: class `invalid`)
 *   and fails others until their 2 attempts run out (class `destination`) puts exactly those
 *   in the DLQ, next to one malformed event the router rejected;
 * - `--dry-run` lists them and writes nothing; `--since` a moment after they were written
 *   selects none; `--class destination` replays only the retried ones;
 * - after the ledger is "fixed", a replay writes exactly the missing events, each once;
 *   a second replay finds everything done and writes nothing;
 * - an unknown destination exits 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { highWatermarks, recordsBetween } from '../../../src/kafka/offsets.js';
import { SinkError } from '../../../src/sinks/sink.js';
import { TestPipeline, checkExactlyOnceInOrder } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';
import { captureCli } from '../../helpers/cli.js';

const TOPOLOGY = `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 8
    retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 50 }
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
    concurrency: 8
`;

function summary(stdout: string): string {
  return stdout.trim().split('\n').at(-1)!;
}

test('replay after fixing the ledger delivers exactly the missing events, once, and only once across runs', async () => {
  const pipeline = await TestPipeline.create(TOPOLOGY);
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-dlq-'));
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, pipeline.yaml);
  try {
    const { records, eventIds } = pipeline.samples(120, 12);
    const refused = new Set(eventIds.filter((_, i) => i % 10 === 3)); // 12 events, class invalid
    const flaky = new Set(eventIds.filter((_, i) => i % 10 === 7)); // 12 events, class destination
    let fixed = false;
    pipeline.behaviours.set('ledger', (record) => {
      if (fixed) return;
      if (refused.has(record.eventId)) throw new SinkError('ledger refused: 422 amount must be positive', 'permanent');
      if (flaky.has(record.eventId)) throw new SinkError('ledger: 503 service unavailable', 'retriable');
    });
    await pipeline.start();
    await pipeline.produce([...records, { key: 'customer-0', value: '{"customerId": "customer-0"}' }]);
    const settled = () => pipeline.finished('ledger') === eventIds.length && pipeline.finished('notify') === eventIds.length && pipeline.deadLetters.length === refused.size + flaky.size + 1;
    expect(await eventually(settled, 120_000, 200)).toBe(true);
    const missing = new Set([...refused, ...flaky]);
    expect(checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds).missing.sort()).toEqual([...missing].sort());
    const sinceAfterAll = new Date(Math.max(...pipeline.deadLetters.map((d) => d.timestamp)) + 1).toISOString();
    fixed = true;

    const ledgerInput = pipeline.plan.destinations.find((d) => d.name === 'ledger')!.inputTopic;
    const before = await highWatermarks(pipeline.shared.kafka, [ledgerInput]);

    // --dry-run: one line per record, nothing written.
    const dry = await captureCli('dlq', 'replay', file, '--destination', 'ledger', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const wouldReplay = dry.stdout.split('\n').filter((line) => /^would replay\s+\d+\//.test(line));
    expect(wouldReplay.map((line) => line.split(/\s+/)[3]).sort()).toEqual([...missing].sort());
    for (const line of wouldReplay) expect(line).toMatch(/^would replay\s+\d+\/\d+\s+\S+\s+(invalid\s+ledger refused: 422|destination\s+gave up after 2 attempts: ledger: 503)/);
    expect(dry.stdout).toMatch(/^not replayable\s+\d+\/\d+\s+-\s+invalid\s+rejected by the router/m);
    expect(summary(dry.stdout)).toBe(`would replay ${missing.size}, skipped 0 already done, 1 not replayable`);

    // --since after the last dead letter: offsetsForTimes starts every partition at its end.
    const late = await captureCli('dlq', 'replay', file, '--destination', 'ledger', '--since', sinceAfterAll);
    expect(late.code).toBe(0);
    expect(summary(late.stdout)).toBe('replayed 0, skipped 0 already done, 0 not replayable');
    // A duration reaching back before the run selects them all again.
    expect(summary((await captureCli('dlq', 'replay', file, '--destination', 'ledger', '--since', '1h', '--dry-run')).stdout)).toBe(
      `would replay ${missing.size}, skipped 0 already done, 1 not replayable`,
    );
    expect(recordsBetween(before, await highWatermarks(pipeline.shared.kafka, [ledgerInput]), ledgerInput)).toBe(0);

    // --class destination: only the retried-out events go back.
    const byClass = await captureCli('dlq', 'replay', file, '--destination', 'ledger', '--class', 'destination');
    expect(byClass.code).toBe(0);
    expect(summary(byClass.stdout)).toBe(`replayed ${flaky.size}, skipped 0 already done, 0 not replayable`);
    const ledgerWrote = async () => new Set((await pipeline.written('ledger')).map((w) => w.eventId));
    expect(await eventually(async () => {
      const wrote = await ledgerWrote();
      return [...flaky].every((id) => wrote.has(id));
    }, 60_000, 200)).toBe(true);
    expect([...(await ledgerWrote())].filter((id) => refused.has(id))).toEqual([]);

    // Everything else: the retried ones are done now and skipped; the refused ones go back.
    const rest = await captureCli('dlq', 'replay', file, '--destination', 'ledger');
    expect(rest.code).toBe(0);
    expect(summary(rest.stdout)).toBe(`replayed ${refused.size}, skipped ${flaky.size} already done, 1 not replayable`);
    expect(await eventually(async () => (await pipeline.written('ledger')).length >= eventIds.length, 60_000, 200)).toBe(true);

    // A second full replay finds every event done and writes nothing.
    const again = await captureCli('dlq', 'replay', file, '--destination', 'ledger');
    expect(again.code).toBe(0);
    expect(summary(again.stdout)).toBe(`replayed 0, skipped ${missing.size} already done, 1 not replayable`);

    await pipeline.drained(); // every replayed record handled: a second write of any event is in by now
    const check = checkExactlyOnceInOrder(await pipeline.written('ledger'), eventIds);
    expect({ missing: check.missing, duplicated: check.duplicated }).toEqual({ missing: [], duplicated: [] });
    expect(recordsBetween(before, await highWatermarks(pipeline.shared.kafka, [ledgerInput]), ledgerInput)).toBe(missing.size);
    // Nothing replayed failed again, and notify was never touched.
    expect(pipeline.deadLetters).toHaveLength(missing.size + 1);
    expect(checkExactlyOnceInOrder(await pipeline.written('notify'), eventIds).duplicated).toEqual([]);

    const unknown = await captureCli('dlq', 'replay', file, '--destination', 'search');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^--destination: search not in topology /);
  } finally {
    await pipeline.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
