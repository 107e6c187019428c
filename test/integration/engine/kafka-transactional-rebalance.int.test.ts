/**
 * The transactional kafka worker on a backend with KIP-447 (KafkaPort.fencesGroupMembers) runs
 * ONE transactional producer per member, whose transactions carry the batches of several input
 * partitions. Proves, on the real broker and Redis, that this stays exactly-once while the
 * worker's group rebalances mid-stream: a second member joins while the first has batches in
 * hand, then the first leaves with work left. A read_committed reader of the sink topic sees
 * every event once and per key in order, each completion is written once, and the group has
 * committed to the end of its input. Fails with copies written twice (a batch committed by
 * both members: offsets of a lost partition accepted from its old owner) or missing (offsets
 * committed past records whose transaction did not commit).
 */
import type { Role } from '../../../src/runtime/role.js';
import { createRoles } from '../../../src/runtime/roles.js';
import { KafkaTransactionalWorker } from '../../../src/runtime/kafka-tx-worker.js';
import type { KafkaClientName } from '../../../src/kafka/port.js';
import { closeAfterTest } from '../../helpers/leftovers.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { exactlyOnce, readCommitted } from '../../helpers/read-committed.js';
import { planGroups, untilDrained } from '../../helpers/read-topic.js';
import { eventually } from '../../helpers/servers.js';

/** The backends whose transactions are fenced by the group's generation (the shared producer); kafkajs keeps a producer per partition. */
const KIP_447_BACKENDS: readonly KafkaClientName[] = ['confluent', 'platformatic'];
const EVENTS_PER_PHASE = 1_500;

describe.each(KIP_447_BACKENDS)('%s', (client) => {
  test('a member joining and one leaving mid-stream: the shared producers write every event to the sink once, per key in order', async () => {
    const pipeline = await TestPipeline.create(
      `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 6
destinations:
  - name: ledger
    concurrency: 6
    sink: { type: kafka, topic: '{name}.ledger' }
`,
      { KAFKA_CLIENT: client },
    );
    expect(pipeline.shared.kafka.fencesGroupMembers).toBe(true);
    /** A worker member of the ledger destination in this process, as a second replica of its Deployment would be. */
    const member = async (): Promise<{ stop(): Promise<void> }> => {
      const roles: Role[] = await createRoles(pipeline.plan, pipeline.shared, { roles: new Set(['worker']) }, {});
      const stop = async () => {
        for (const role of roles) await role.stop();
      };
      const done = closeAfterTest('a ledger worker member', stop);
      for (const role of roles) await role.start();
      expect(roles.every((role) => role instanceof KafkaTransactionalWorker)).toBe(true);
      return {
        async stop() {
          done();
          await stop();
        },
      };
    };
    try {
      await pipeline.startWith(['router']);
      const { records, eventIds } = pipeline.samples(3 * EVENTS_PER_PHASE, 90);
      const phase = (n: number) => records.slice(n * EVENTS_PER_PHASE, (n + 1) * EVENTS_PER_PHASE);

      const a = await member();
      await pipeline.produce(phase(0));
      expect(await eventually(() => pipeline.finished('ledger') >= EVENTS_PER_PHASE / 2, 120_000, 10)).toBe(true);
      // Joins while the first member is in the middle of its input; more input arrives during the rebalance.
      const joining = member();
      await pipeline.produce(phase(1));
      const b = await joining;
      expect(await eventually(() => pipeline.finished('ledger') >= EVENTS_PER_PHASE * 1.5, 120_000, 10)).toBe(true);
      // Leaves with a third of the input just arrived: the second member takes over its partitions.
      await pipeline.produce(phase(2));
      await a.stop();

      expect(await eventually(() => pipeline.finished('ledger') >= eventIds.length, 120_000, 200)).toBe(true);
      // Every batch's offsets committed (by whichever member): nothing is left to be read again.
      await untilDrained(pipeline.shared.kafka, planGroups(pipeline.plan, ['router', 'worker']));
      await b.stop();
      await pipeline.stopRoles();

      const written = await readCommitted(pipeline.shared.kafka, `${pipeline.runId}.ledger`);
      expect(exactlyOnce(written, eventIds)).toEqual({ missing: [], duplicated: [], outOfOrderKeys: [] });
      expect(pipeline.completions.filter((c) => c.destination === 'ledger')).toHaveLength(eventIds.length);
      expect(pipeline.deadLetters).toEqual([]);
    } finally {
      await pipeline.close();
    }
  });
});
