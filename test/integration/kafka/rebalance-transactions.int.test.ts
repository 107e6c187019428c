/**
 * Through the port, per backend, on the real broker: consume-transform-produce with one
 * transaction per batch (records plus the group's offsets) stays exactly-once while the group
 * rebalances twice mid-stream, a second member joining and the first leaving. It holds because
 * a member rejoins only after its batches in hand finished (their transactions commit under the
 * old generation before the partitions move), and every partition then restarts at its
 * committed offset, read stable (a transaction's offsets count only once its commit completed). Fails with records written twice (a batch handled by both members) or
 * missing (offsets committed past records that were not written).
 */
import { randomBytes } from 'node:crypto';
import type { GroupConsumer, KafkaAdmin, KafkaPort } from '../../../src/kafka/port.js';
import { createKafka } from '../../../src/kafka/client.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { KAFKA_BACKENDS_UNDER_TEST } from '../../helpers/kafka-backends.js';
import { closeAfterTest } from '../../helpers/leftovers.js';
import { eventually, testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

const RECORDS = 1_200;
const PARTITIONS = 6;

describe.each(KAFKA_BACKENDS_UNDER_TEST)('%s', (client) => {
  let port: KafkaPort;
  let admin: KafkaAdmin;

  beforeAll(async () => {
    port = await createKafka({ ...testEnv().kafka, client }, testLogger(), `rebalance-${client}`);
    admin = port.admin();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  test('a member joining and one leaving mid-stream: every record written exactly once, the group committed to the end', async () => {
    const [input, output, groupId] = [uniqueName(`rb-${client}-in`), uniqueName(`rb-${client}-out`), uniqueName(`rb-${client}-g`)];
    await admin.createTopics([input, output].map((name) => ({ name, partitions: PARTITIONS, replicationFactor: -1, config: {} })));
    const seed = await port.producer();
    await seed.send([{ topic: input, records: Array.from({ length: RECORDS }, (_, i) => ({ key: `k-${i}`, value: `${i}:${randomBytes(250).toString('hex')}` })) }]);
    await seed.disconnect();

    let handled = 0;
    const member = async (name: string): Promise<{ consumer: GroupConsumer; leave(): Promise<void> }> => {
      const producer = await port.producer({ transactionalId: `${groupId}-${name}` });
      const consumer: GroupConsumer = port.groupConsumer({
        groupId,
        topics: [input],
        commitMode: 'manual',
        // Batches of about 50 records of 500 incompressible bytes, each transaction open for a while: the rebalances find one in hand.
        maxBytesPerPartition: 25_000,
        handleBatch: async (records: readonly ConsumedRecord[], controls) => {
          const transaction = await producer.transaction();
          try {
            await transaction.send([{ topic: output, records: records.map((r) => ({ key: r.key, value: r.value })) }]);
            await new Promise((resolve) => setTimeout(resolve, 300));
            await transaction.sendOffsets(consumer, [{ topic: input, partition: records[0]!.partition, offset: (BigInt(controls.lastOffset()) + 1n).toString() }]);
            await transaction.commit();
          } catch (error) {
            await transaction.abort().catch(() => undefined);
            throw error; // handed over again
          }
          handled += records.length;
        },
      });
      const leave = async () => {
        consumer.stopFetching();
        await consumer.disconnect();
        await producer.disconnect();
      };
      const done = closeAfterTest(`member ${name}`, leave);
      await consumer.start();
      return {
        consumer,
        async leave() {
          done();
          await leave();
        },
      };
    };

    const a = await member('a');
    expect(await eventually(() => handled >= RECORDS / 6, 60_000)).toBe(true);
    await member('b');
    expect(await eventually(() => handled >= RECORDS / 3, 60_000)).toBe(true);
    await a.leave();
    expect(handled).toBeLessThan(RECORDS); // the last member takes over with records left

    const lag = async () => {
      const committed = new Map((await admin.committedOffsets(groupId, [input])).map((c) => [c.partition, BigInt(c.offset)]));
      return (await admin.watermarks(input)).reduce((sum, w) => sum + (BigInt(w.high) - (committed.get(w.partition) ?? 0n)), 0n);
    };
    expect(await eventually(async () => (await lag()) === 0n, 120_000, 250)).toBe(true);

    const watermarks = await admin.watermarks(output);
    const written: ConsumedRecord[] = [];
    await port.readRange(output, new Map(watermarks.map((w) => [w.partition, { start: BigInt(w.low), end: BigInt(w.high) }])), async (batch) => void written.push(...batch), {
      purpose: 'rebalance-test',
    });
    const values = written.map((r) => r.value!.toString().split(':')[0]);
    expect(new Set(values).size).toBe(RECORDS);
    expect(values).toHaveLength(RECORDS);
  });
});
