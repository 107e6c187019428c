/**
 * `kill -9` of the sequencer under load, then a restart: the sequenced output has each event
 * once, per key in seq order. The sequencer runs as a real `flowyard run --roles sequencer`
 * process; router, workers (ordering none, so completions arrive out of order and the
 * sequencer holds events when it dies) and tracker run in the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestPipeline } from '../../helpers/pipeline.js';
import { SequencedOutput, checkSequenced, readSequenced } from '../../helpers/sequencer.js';
import { eventually } from '../../helpers/servers.js';
import { planGroups, untilDrained } from '../../helpers/read-topic.js';

const bin = fileURLToPath(new URL('../../../bin/flowyard.js', import.meta.url));
const jitter = () => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 8));

function startSequencer(file: string): ChildProcess {
  return spawn(process.execPath, [bin, 'run', file, '--roles', 'sequencer'], {
    env: { ...process.env, FLOWYARD_HTTP_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

test('kill -9 of the sequencer under load, then a restart: each event once, in order', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 4
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
    concurrency: 64
    ordering: none
ordering:
  sequencer: { output: '{name}.sequenced', holdMs: 60000 }
`);
  const dir = mkdtempSync(join(tmpdir(), 'flowyard-seq-crash-'));
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, pipeline.yaml);
  const output = await SequencedOutput.tail(pipeline.shared.kafka, pipeline.plan);
  let sequencer: ChildProcess | undefined;
  try {
    pipeline.behaviours.set('ledger', jitter);
    await pipeline.start(['router', 'worker', 'tracker']);
    const { records, eventIds } = pipeline.samples(6000, 100);
    sequencer = startSequencer(file);
    await pipeline.produce(records);
    expect(await eventually(() => output.records.length >= 1500, 90_000, 20)).toBe(true);
    sequencer.kill('SIGKILL');
    await new Promise((resolve) => sequencer!.once('exit', resolve));
    expect(output.records.length).toBeLessThan(eventIds.length); // killed with work left to do

    sequencer = startSequencer(file);
    // The killed process's open transaction holds read_committed readers back until the broker aborts it (~1 min).
    expect(await eventually(() => output.records.length >= eventIds.length, 170_000, 250)).toBe(true);
    await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router', 'worker', 'tracker', 'sequencer'])); // a repeat would be there now
    expect(checkSequenced(await readSequenced(pipeline.shared.kafka, pipeline.plan), eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    if (sequencer && sequencer.exitCode === null) {
      sequencer.kill('SIGTERM');
      await new Promise((resolve) => sequencer!.once('exit', resolve));
    }
    await output.stop();
    await pipeline.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
