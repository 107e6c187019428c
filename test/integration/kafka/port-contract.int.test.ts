/**
 * The Kafka port's contract (src/kafka/port.ts), one describe per backend, against the real
 * broker: every method a role, command or tool uses, with the semantics the roles rely on.
 * A backend is done when its describe passes unchanged.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { createKafka } from '../../../src/kafka/client.js';
import type { ConsumedRecord, TopicPartitionOffset } from '../../../src/kafka/records.js';
import type { BatchControls, GroupConsumer, GroupConsumerOptions, KafkaAdmin, KafkaPort, TopicPartitions } from '../../../src/kafka/port.js';
import { KAFKA_BACKENDS_UNDER_TEST } from '../../helpers/kafka-backends.js';
import { closeAfterTest } from '../../helpers/leftovers.js';
import { eventually, testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

/** Kafka's Java partitioner hash (Utils.murmur2), the reference a backend's key placement must match. */
function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ data.length) | 0;
  const whole = data.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = data.length % 4;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Which partition Kafka's Java producer writes `key` to. */
function javaPartition(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions;
}

test('the reference murmur2 gives Kafka UtilsTest.testMurmur2 values', () => {
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [input, hash] of cases) expect(murmur2(Buffer.from(input))).toBe(hash);
});

/** A port to a broker address where something listens but speaks no Kafka: every call fails as a connection error. */
async function silentBroker(): Promise<{ address: string; server: Server }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { address: `127.0.0.1:${address.port}`, server };
}

/** Records read from every partition of `topic`, start to high watermark (read_committed), through the port. */
async function readAll(port: KafkaPort, admin: KafkaAdmin, topic: string): Promise<ConsumedRecord[]> {
  const watermarks = await admin.watermarks(topic);
  const range = new Map(watermarks.map((w) => [w.partition, { start: BigInt(w.low), end: BigInt(w.high) }]));
  const records: ConsumedRecord[] = [];
  await port.readRange(topic, range, async (batch) => void records.push(...batch), { purpose: 'port-contract-read', stallTimeoutMs: 60_000 });
  return records;
}

describe.each(KAFKA_BACKENDS_UNDER_TEST)('Kafka port: %s', (client) => {
  const topics = {
    keyed: uniqueName(`port-${client}-keyed`), // 3 partitions
    shapes: uniqueName(`port-${client}-shapes`), // 2 partitions
    small: uniqueName(`port-${client}-small`), // max.message.bytes=2048
    txIn: uniqueName(`port-${client}-tx-in`),
    txOut: uniqueName(`port-${client}-tx-out`),
    group: uniqueName(`port-${client}-group`), // 2 partitions
    pause: uniqueName(`port-${client}-pause`), // 2 partitions
    memberA: uniqueName(`port-${client}-member-a`), // 2 partitions
    memberB: uniqueName(`port-${client}-member-b`), // 2 partitions
    tail: uniqueName(`port-${client}-tail`),
  };
  const missing = uniqueName(`port-${client}-missing`);
  let port: KafkaPort;
  let admin: KafkaAdmin;
  /** Started in beforeAll, asserted in the last test: a client's own retries take long before they give up. */
  let failures: Promise<{ down: unknown; unknownTopic: unknown }>;
  let silent: Server;

  /** A group member the test may stop itself (`leave`); else it is stopped after the test. */
  const consumer = (options: Omit<GroupConsumerOptions, 'groupId'> & { groupId?: string }): GroupConsumer & { leave(): Promise<void> } => {
    const member = port.groupConsumer({ groupId: uniqueName(`port-${client}-g`), ...options });
    const leave = async () => {
      member.stopFetching();
      await member.disconnect();
    };
    const done = closeAfterTest(`group consumer ${member.groupId}`, leave);
    return Object.assign(member, {
      async leave() {
        done();
        await member.disconnect();
      },
    });
  };

  /** Admin reads of topics created a moment ago fail retriably while leaders are elected: the caller retries by classify. */
  const retrying = async <T>(call: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (attempt === 40 || port.classify(error) !== 'retriable') throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };

  beforeAll(async () => {
    const env = testEnv();
    port = await createKafka({ ...env.kafka, client }, testLogger(), `contract-${client}`);
    expect(port.client).toBe(client);
    admin = port.admin();
    const newTopic = (name: string, partitions: number, config: Record<string, string> = {}) => ({ name, partitions, replicationFactor: -1, config });
    await admin.createTopics([
      newTopic(topics.keyed, 3),
      newTopic(topics.shapes, 2),
      newTopic(topics.small, 1, { 'max.message.bytes': '2048' }),
      newTopic(topics.txIn, 1),
      newTopic(topics.txOut, 1),
      newTopic(topics.group, 2),
      newTopic(topics.pause, 2),
      newTopic(topics.memberA, 2),
      newTopic(topics.memberB, 2),
      newTopic(topics.tail, 1),
    ]);
    // Leaders of new topics are elected a moment after createTopics returns; the tests start once every topic answers.
    for (const topic of Object.values(topics)) await retrying(() => admin.watermarks(topic));
    const broker = await silentBroker();
    silent = broker.server;
    const downPort = await createKafka({ ...env.kafka, client, brokers: [broker.address], sasl: undefined, tls: undefined }, testLogger(), `contract-${client}-down`);
    const downAdmin = downPort.admin();
    const settle = (call: Promise<unknown>) => call.then(() => undefined, (error: unknown) => error);
    // An admin of its own: a kafkajs admin asked about a missing topic keeps asking for its metadata in every later call.
    const askingAdmin = port.admin();
    failures = Promise.all([settle(downAdmin.listTopics()), settle(askingAdmin.watermarks(missing))]).then(async ([down, unknownTopic]) => {
      await downAdmin.disconnect().catch(() => undefined);
      await askingAdmin.disconnect().catch(() => undefined);
      return { down, unknownTopic };
    });
  });

  afterAll(async () => {
    await failures.catch(() => undefined);
    silent.close();
    await admin.disconnect();
  });

  test('admin: lists, counts, describes and reads offsets of topics; a missing topic is absent', async () => {
    expect(await admin.listTopics()).toEqual(expect.arrayContaining([topics.keyed, topics.small]));
    expect(await retrying(() => admin.partitionCounts([topics.keyed, topics.shapes, missing]))).toEqual(new Map([[topics.keyed, 3], [topics.shapes, 2]]));
    const watermarks = await retrying(() => admin.watermarks(topics.keyed));
    expect(watermarks.sort((a, b) => a.partition - b.partition)).toEqual([0, 1, 2].map((partition) => ({ partition, low: '0', high: '0' })));
    const configs = await retrying(() => admin.topicConfigs([topics.small, topics.keyed, missing], ['max.message.bytes']));
    expect([...configs.keys()].sort()).toEqual([topics.keyed, topics.small].sort());
    expect(configs.get(topics.small)?.get('max.message.bytes')).toEqual({ value: '2048', own: true });
    expect(configs.get(topics.keyed)?.get('max.message.bytes')?.own).toBe(false);
    await expect(admin.ping()).resolves.toBeUndefined();
  });

  test('producer: keys land on the partitions Java puts them on; an explicit partition wins', async () => {
    const producer = await port.producer();
    const keys = Array.from({ length: 30 }, (_, i) => `customer-${i}`);
    try {
      await producer.send([{ topic: topics.keyed, records: keys.map((key, i) => ({ key, value: String(i) })) }]);
      await producer.send([{ topic: topics.keyed, records: [{ key: 'customer-0', value: 'pinned', partition: (javaPartition('customer-0', 3) + 1) % 3 }] }]);
    } finally {
      await producer.disconnect();
    }
    const records = await readAll(port, admin, topics.keyed);
    expect(records).toHaveLength(31);
    for (const r of records) {
      const key = r.key!.toString();
      const expected = r.value!.toString() === 'pinned' ? (javaPartition(key, 3) + 1) % 3 : javaPartition(key, 3);
      expect({ key, partition: r.partition }).toEqual({ key, partition: expected });
    }
    // Per partition, in the order sent.
    for (const partition of [0, 1, 2]) {
      const values = records.filter((r) => r.partition === partition && r.value!.toString() !== 'pinned').map((r) => Number(r.value!.toString()));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  test('producer: headers (strings, Buffers, repeated carried headers) arrive byte-exact; null key and value stay null', async () => {
    const binary = Buffer.from([0xff, 0x00, 0xc3, 0x28]);
    const producer = await port.producer();
    try {
      await producer.send([
        {
          topic: topics.shapes,
          records: [
            {
              key: null,
              value: null,
              partition: 1,
              headers: { 'fy-event-id': 'e-1', 'fy-shared': Buffer.from('shared') },
              carriedHeaders: { 'x-binary': binary, 'x-repeated': [Buffer.from('first'), Buffer.from([0xfe, 0x01])] },
            },
            { key: Buffer.from([0x00, 0x01]), value: Buffer.alloc(0), partition: 1 },
          ],
        },
      ]);
    } finally {
      await producer.disconnect();
    }
    const records = await readAll(port, admin, topics.shapes);
    expect(records).toHaveLength(2);
    const [first, second] = records.sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(first).toMatchObject({ topic: topics.shapes, partition: 1, offset: '0', key: null, value: null });
    expect(first!.headers).toMatchObject({ 'fy-event-id': 'e-1', 'fy-shared': 'shared' });
    expect(first!.carriedHeaders).toEqual({ 'x-binary': binary, 'x-repeated': [Buffer.from('first'), Buffer.from([0xfe, 0x01])] });
    expect(typeof first!.timestamp).toBe('number');
    expect(second!.key).toEqual(Buffer.from([0x00, 0x01]));
    expect(second!.value).toEqual(Buffer.alloc(0));
    expect(second!.carriedHeaders).toBeUndefined();
  });

  test('transactions: records and offsets with metadata commit together (read_committed sees them); an aborted transaction stays invisible', async () => {
    const seed = await port.producer();
    await seed.send([{ topic: topics.txIn, records: [{ key: 'k', value: 'input' }] }]);
    await seed.disconnect();
    const taken: ConsumedRecord[] = [];
    const member = consumer({ topics: [topics.txIn], commitMode: 'manual', handleBatch: async (records) => void taken.push(...records) });
    await member.start();
    expect(await eventually(() => taken.length === 1)).toBe(true);

    const producer = await port.producer({ transactionalId: uniqueName(`port-${client}-tx`) });
    try {
      const committed = await producer.transaction();
      await committed.send([{ topic: topics.txOut, records: [{ key: 'k', value: 'committed-1' }, { key: 'k', value: 'committed-2' }] }]);
      await committed.sendOffsets(member, [{ topic: topics.txIn, partition: 0, offset: '1', metadata: 'flush-token-1' }]);
      await committed.commit();

      const aborted = await producer.transaction();
      await aborted.send([{ topic: topics.txOut, records: [{ key: 'k', value: 'aborted' }] }]);
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }
    expect(await admin.committedOffsets(member.groupId, [topics.txIn])).toEqual([{ topic: topics.txIn, partition: 0, offset: '1', metadata: 'flush-token-1' }]);
    // Committed records, two markers and the aborted record: read_committed returns the committed two.
    expect((await readAll(port, admin, topics.txOut)).map((r) => r.value!.toString())).toEqual(['committed-1', 'committed-2']);
    expect((await admin.watermarks(topics.txOut))[0]!.high).toBe('5');
  });

  test('group consumer: offsets the batches hold no record for (markers, aborted records) are reported through onSkipped', async () => {
    // txOut (the test before): 0, 1 committed records, 2 commit marker, 3 aborted record, 4 abort marker.
    const covered = new Set<number>();
    const member = consumer({
      topics: [topics.txOut],
      commitMode: 'manual',
      handleBatch: async (records) => records.forEach((r) => covered.add(Number(r.offset))),
      onSkipped: (topic, partition, first, last) => {
        expect({ topic, partition }).toEqual({ topic: topics.txOut, partition: 0 });
        for (let offset = Number(first); offset <= Number(last); offset++) covered.add(offset);
      },
    });
    await member.start();
    expect(await eventually(() => covered.size === 5)).toBe(true);
    expect([...covered].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  test('group consumer: batches of one partition in offset order, committed after the batch', async () => {
    const producer = await port.producer();
    for (const partition of [0, 1]) {
      await producer.send([{ topic: topics.group, records: Array.from({ length: 20 }, (_, i) => ({ key: null, value: String(i), partition })) }]);
    }
    await producer.disconnect();
    const batches: ConsumedRecord[][] = [];
    const member = consumer({ topics: [topics.group], commitMode: 'after-batch', partitionsConsumedConcurrently: 2, handleBatch: async (records) => void batches.push([...records]) });
    await member.start();
    expect(await eventually(() => batches.flat().length === 40)).toBe(true);
    for (const batch of batches) expect(new Set(batch.map((r) => `${r.topic}/${r.partition}`)).size).toBe(1);
    for (const partition of [0, 1]) {
      const mine = batches.flat().filter((r) => r.partition === partition);
      expect(mine.map((r) => r.value!.toString())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      expect(mine.map((r) => Number(r.offset))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
    const committed = async () => (await admin.committedOffsets(member.groupId, [topics.group])).map((c) => `${c.partition}:${c.offset}`).sort();
    expect(await eventually(async () => (await committed()).join() === '0:20,1:20')).toBe(true);
  });

  test('group consumer: manual mode commits only what the owner commits', async () => {
    const taken: ConsumedRecord[] = [];
    const member = consumer({ topics: [topics.group], commitMode: 'manual', handleBatch: async (records) => void taken.push(...records) });
    await member.start();
    expect(await eventually(() => taken.length === 40)).toBe(true);
    const offsets = async () => (await admin.committedOffsets(member.groupId, [topics.group])).map((c) => `${c.partition}:${c.offset}`).sort();
    expect(await offsets()).toEqual(['0:-1', '1:-1']);
    const commit: TopicPartitionOffset[] = [{ topic: topics.group, partition: 0, offset: '7' }, { topic: topics.group, partition: 1, offset: '20' }];
    await member.commit(commit);
    expect(await offsets()).toEqual(['0:7', '1:20']);
  });

  test('group consumer: a paused partition hands over nothing until resumed, the others go on', async () => {
    const taken: ConsumedRecord[] = [];
    let assignment: readonly TopicPartitions[] = [];
    const member = consumer({
      topics: [topics.pause],
      commitMode: 'after-batch',
      handleBatch: async (records) => void taken.push(...records),
      onAssignment: (assigned) => (assignment = assigned),
    });
    await member.start();
    expect(await eventually(() => assignment.flatMap((a) => a.partitions).length === 2)).toBe(true);
    member.pause([{ topic: topics.pause, partitions: [0] }]);
    const producer = await port.producer();
    try {
      // Partition 0's records are written before partition 1's: a fetch that returns partition 1's would have returned them too.
      await producer.send([{ topic: topics.pause, records: [{ key: null, value: 'paused', partition: 0 }] }]);
      await producer.send([{ topic: topics.pause, records: [{ key: null, value: 'running', partition: 1 }] }]);
      expect(await eventually(() => taken.some((r) => r.partition === 1))).toBe(true);
      expect(taken.filter((r) => r.partition === 0)).toEqual([]);
      member.resume([{ topic: topics.pause, partitions: [0] }]);
      expect(await eventually(() => taken.some((r) => r.partition === 0))).toBe(true);
      expect(taken.map((r) => r.value!.toString())).toEqual(['running', 'paused']);
    } finally {
      await producer.disconnect();
    }
  });

  test('group consumer: stopFetching lets the batch in hand finish and commit; disconnect then leaves the group', async () => {
    const producer = await port.producer();
    await producer.send([{ topic: topics.tail, records: [{ key: null, value: 'one' }] }]);
    await producer.disconnect();
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let inHand: BatchControls | undefined;
    const member = consumer({
      topics: [topics.tail],
      commitMode: 'after-batch',
      handleBatch: async (_records, controls) => {
        inHand = controls;
        await released;
      },
    });
    await member.start();
    expect(await eventually(() => inHand !== undefined)).toBe(true);
    expect(inHand!.isRunning()).toBe(true);
    member.stopFetching();
    expect(inHand!.isRunning()).toBe(false);
    release();
    await member.leave();
    expect(await admin.committedOffsets(member.groupId, [topics.tail])).toEqual([expect.objectContaining({ partition: 0, offset: '1' })]);
  });

  test('group consumer: members of one group reading different topics each get only their topic\'s partitions', async () => {
    const groupId = uniqueName(`port-${client}-shared`);
    const assigned = { a: [] as readonly TopicPartitions[], b: [] as readonly TopicPartitions[] };
    const taken = { a: [] as ConsumedRecord[], b: [] as ConsumedRecord[] };
    const a = consumer({ groupId, topics: [topics.memberA], commitMode: 'after-batch', handleBatch: async (r) => void taken.a.push(...r), onAssignment: (x) => (assigned.a = x) });
    const b = consumer({ groupId, topics: [topics.memberB], commitMode: 'after-batch', handleBatch: async (r) => void taken.b.push(...r), onAssignment: (x) => (assigned.b = x) });
    await Promise.all([a.start(), b.start()]);
    const view = (x: readonly TopicPartitions[]) => x.filter((t) => t.partitions.length > 0).map((t) => `${t.topic}:${[...t.partitions].sort().join(',')}`);
    expect(await eventually(() => view(assigned.a).join() === `${topics.memberA}:0,1` && view(assigned.b).join() === `${topics.memberB}:0,1`, 60_000)).toBe(true);
    const producer = await port.producer();
    await producer.send([
      { topic: topics.memberA, records: [0, 1].map((partition) => ({ key: null, value: 'a', partition })) },
      { topic: topics.memberB, records: [0, 1].map((partition) => ({ key: null, value: 'b', partition })) },
    ]);
    await producer.disconnect();
    expect(await eventually(() => taken.a.length === 2 && taken.b.length === 2)).toBe(true);
    expect(new Set(taken.a.map((r) => r.topic))).toEqual(new Set([topics.memberA]));
    expect(new Set(taken.b.map((r) => r.topic))).toEqual(new Set([topics.memberB]));
  });

  test('readRange reads only the asked range; offsetsAt finds the first offset at or after a time', async () => {
    const all = (await readAll(port, admin, topics.keyed)).filter((r) => r.partition === 0);
    expect(all.length).toBeGreaterThan(2);
    const records: ConsumedRecord[] = [];
    await port.readRange(topics.keyed, new Map([[0, { start: 1n, end: 2n }]]), async (batch) => void records.push(...batch), { purpose: 'port-contract-range' });
    expect(records.map((r) => r.offset)).toEqual(['1']);
    const future = await admin.offsetsAt(topics.keyed, Date.now() + 3_600_000);
    const high = new Map((await admin.watermarks(topics.keyed)).map((w) => [w.partition, w.high]));
    expect(future.map((o) => [o.partition, o.offset]).sort()).toEqual([...high].sort());
    const start = await admin.offsetsAt(topics.keyed, 0);
    expect(start.map((o) => [o.partition, o.offset]).sort()).toEqual([0, 1, 2].map((p) => [p, '0']));
  });

  test('tail hands over what is written after it started, nothing from before', async () => {
    const seen: ConsumedRecord[] = [];
    const tail = await port.tail([topics.tail], (record) => void seen.push(record));
    closeAfterTest('tail', () => tail.stop());
    const producer = await port.producer();
    await producer.send([{ topic: topics.tail, records: [{ key: null, value: 'after' }] }]);
    await producer.disconnect();
    expect(await eventually(() => seen.length >= 1)).toBe(true);
    expect(seen.map((r) => r.value!.toString())).toEqual(['after']);
  });

  test('classify: too large, a broker that does not answer, an unknown topic', async () => {
    const producer = await port.producer();
    try {
      // Random bytes: compression (KAFKA_COMPRESSION) does not shrink them below the limit.
      const refused = await producer.send([{ topic: topics.small, records: [{ key: null, value: randomBytes(4096) }] }]).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeDefined();
      expect(port.classify(refused)).toBe('too-large');
    } finally {
      await producer.disconnect();
    }
    const { down, unknownTopic } = await failures;
    expect(down).toBeDefined();
    expect(port.classify(down)).toBe('retriable');
    expect(unknownTopic).toBeDefined();
    expect(port.classify(unknownTopic)).toBe('retriable');
  });
});
