/**
 * TransactionCoalescer without a broker: a fake transactional producer records what each
 * transaction sent and committed, and holds a transaction open until the test lets it finish,
 * so "arrives while a transaction is in flight" is a state the test sets, not a timing.
 */
import type { GroupConsumer, KafkaErrorKind, KafkaProducer, KafkaTransaction, TopicRecords, TransactionOffset } from '../../../src/kafka/port.js';
import { TransactionCoalescer, mergeOffsets, type TransactionPart } from '../../../src/kafka/transaction-coalescer.js';

interface FakeTransaction {
  /** Which producer (1 = the first opened) ran it. */
  readonly producer: number;
  readonly records: TopicRecords[];
  readonly offsets: TransactionOffset[];
  outcome: 'open' | 'committed' | 'aborted';
}

class TooLarge extends Error {}
class BrokerDown extends Error {}

const classify = (error: unknown): KafkaErrorKind => (error instanceof TooLarge ? 'too-large' : error instanceof BrokerDown ? 'retriable' : 'permanent');

/**
 * The transactional producers the coalescer opens, as one log: commits wait for `release()`
 * while `hold` is set, and fail per `failCommit`.
 */
class FakeProducer {
  readonly transactions: FakeTransaction[] = [];
  opened = 0;
  readonly disconnected: number[] = [];
  hold = false;
  /** Decides whether a transaction's commit fails, from what it holds. */
  failCommit: (t: FakeTransaction) => Error | undefined = () => undefined;
  abortError: Error | undefined;
  private releases: (() => void)[] = [];

  async open(): Promise<KafkaProducer> {
    this.opened += 1;
    const id = this.opened;
    return {
      send: async () => {
        throw new Error('the coalescer sends only in transactions');
      },
      transaction: () => {
        if (this.disconnected.includes(id)) throw new Error(`producer ${id} was disconnected`);
        return this.transaction(id);
      },
      disconnect: async () => void this.disconnected.push(id),
    };
  }

  private async transaction(producer: number): Promise<KafkaTransaction> {
    if (this.transactions.some((t) => t.outcome === 'open')) throw new Error('two transactions at once');
    const t: FakeTransaction = { producer, records: [], offsets: [], outcome: 'open' };
    this.transactions.push(t);
    return {
      send: async (batch) => void t.records.push(...batch),
      sendOffsets: async (_consumer, offsets) => void t.offsets.push(...offsets),
      commit: async () => {
        if (this.hold) await new Promise<void>((resolve) => this.releases.push(resolve));
        const error = this.failCommit(t);
        if (error !== undefined) throw error;
        t.outcome = 'committed';
      },
      abort: async () => {
        t.outcome = 'aborted';
        if (this.abortError !== undefined) throw this.abortError;
      },
    };
  }

  /** Lets the held commit(s) go on. */
  release(): void {
    const releases = this.releases;
    this.releases = [];
    for (const r of releases) r();
  }

  /** Resolves once a commit is held (the transaction is in flight). */
  async held(): Promise<void> {
    while (this.releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

const consumer = { groupId: 'g' } as GroupConsumer;

/** A partition's batch: `count` records `<partition>-<n>` to topic a (and b), offset `next`. */
function part(partition: number, count: number, next: number, topics: readonly string[] = ['a', 'b']): TransactionPart {
  const records = Array.from({ length: count }, (_, n) => ({ key: `${partition}-${n}`, value: Buffer.from(`${partition}-${n}`) }));
  return { records: topics.map((topic) => ({ topic, records })), offsets: [{ topic: 'src', partition, offset: String(next) }] };
}

const keysOf = (t: FakeTransaction, topic: string) => t.records.filter((r) => r.topic === topic).flatMap((r) => r.records.map((x) => x.key));
const partitionsOf = (t: FakeTransaction) => t.offsets.map((o) => o.partition);

async function coalescer(producer: FakeProducer, extra: { maxRecords?: number; renewAfterFailure?: boolean; onCleanupFailed?: (e: unknown) => void } = {}) {
  const commits: number[] = [];
  const c = await TransactionCoalescer.create({
    open: () => producer.open(),
    consumer,
    classify,
    onCommit: (parts) => commits.push(parts),
    onCleanupFailed: extra.onCleanupFailed ?? ((e) => {
      throw e;
    }),
    ...(extra.maxRecords !== undefined && { maxRecords: extra.maxRecords }),
    ...(extra.renewAfterFailure !== undefined && { renewAfterFailure: extra.renewAfterFailure }),
  });
  return { c, commits };
}

test('parts handed over in the same tick share one transaction: records per topic in arrival order, every part offset', async () => {
  const producer = new FakeProducer();
  const { c, commits } = await coalescer(producer);
  await Promise.all([c.commit(part(0, 2, 10)), c.commit(part(1, 3, 20)), c.commit(part(2, 1, 30))]);
  expect(producer.transactions).toHaveLength(1);
  const [t] = producer.transactions;
  expect(t!.outcome).toBe('committed');
  expect(keysOf(t!, 'a')).toEqual(['0-0', '0-1', '1-0', '1-1', '1-2', '2-0']);
  expect(keysOf(t!, 'b')).toEqual(keysOf(t!, 'a'));
  expect(t!.records.map((r) => r.topic)).toEqual(['a', 'b']); // one entry per topic, not one per part
  expect(t!.offsets).toEqual([
    { topic: 'src', partition: 0, offset: '10' },
    { topic: 'src', partition: 1, offset: '20' },
    { topic: 'src', partition: 2, offset: '30' },
  ]);
  expect(commits).toEqual([3]);
});

test('parts arriving while a transaction is in flight go into the next one; each promise settles with its own transaction', async () => {
  const producer = new FakeProducer();
  const { c, commits } = await coalescer(producer);
  producer.hold = true;
  const settled: string[] = [];
  const first = c.commit(part(0, 1, 1)).then(() => settled.push('p0'));
  await producer.held();
  const later = [1, 2, 3].map((p) => c.commit(part(p, 1, p + 1)).then(() => settled.push(`p${p}`)));
  expect(producer.transactions).toHaveLength(1);

  producer.release();
  await first;
  expect(settled).toEqual(['p0']); // the next transaction is still open: its parts are not settled
  await producer.held();
  expect(producer.transactions).toHaveLength(2);
  expect(partitionsOf(producer.transactions[1]!)).toEqual([1, 2, 3]);

  producer.release();
  await Promise.all(later);
  expect(settled).toEqual(['p0', 'p1', 'p2', 'p3']);
  expect(commits).toEqual([1, 3]);
});

test('a transaction that fails retriably rejects each of its parts (nothing committed), and the next transaction goes on', async () => {
  const producer = new FakeProducer();
  const { c, commits } = await coalescer(producer);
  producer.failCommit = () => new BrokerDown('coordinator loading');
  const results = await Promise.allSettled([c.commit(part(0, 1, 1)), c.commit(part(1, 1, 2))]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(BrokerDown);
  // Not retried part by part: the broker's state, not a part, failed it; each owner retries its batch.
  expect(producer.transactions.map((t) => t.outcome)).toEqual(['aborted']);
  expect(commits).toEqual([]);

  producer.failCommit = () => undefined;
  await Promise.all([c.commit(part(0, 1, 1)), c.commit(part(1, 1, 2))]);
  expect(producer.transactions.map((t) => t.outcome)).toEqual(['aborted', 'committed']);
  expect(partitionsOf(producer.transactions[1]!)).toEqual([0, 1]);
});

test('renewAfterFailure: every failed transaction renews the producer (the next transaction runs on a new one); without it only a refusal as too large does', async () => {
  for (const renewAfterFailure of [true, false]) {
    const producer = new FakeProducer();
    const { c } = await coalescer(producer, { renewAfterFailure });
    producer.failCommit = () => new BrokerDown('PRODUCER_FENCED');
    await expect(c.commit(part(0, 1, 1))).rejects.toBeInstanceOf(BrokerDown);
    producer.failCommit = () => undefined;
    await c.commit(part(0, 1, 1));
    expect({ renewAfterFailure, producers: producer.transactions.map((t) => [t.producer, t.outcome]), disconnected: producer.disconnected }).toEqual({
      renewAfterFailure,
      producers: renewAfterFailure ? [[1, 'aborted'], [2, 'committed']] : [[1, 'aborted'], [1, 'committed']],
      disconnected: renewAfterFailure ? [1] : [],
    });
  }
});

test('a shared transaction refused as too large is retried part by part: only the part at fault is refused, the others commit once', async () => {
  const producer = new FakeProducer();
  const { c, commits } = await coalescer(producer);
  // Partition 1's batch holds a record the topic refuses, whoever it travels with.
  producer.failCommit = (t) => (partitionsOf(t).includes(1) ? new TooLarge('MESSAGE_TOO_LARGE') : undefined);
  const results = await Promise.allSettled([c.commit(part(0, 2, 1)), c.commit(part(1, 2, 2)), c.commit(part(2, 2, 3))]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(TooLarge);
  expect(producer.transactions.map((t) => [t.outcome, partitionsOf(t)])).toEqual([
    ['aborted', [0, 1, 2]],
    ['committed', [0]],
    ['aborted', [1]],
    ['committed', [2]],
  ]);
  // Each other part's records are committed exactly once, in a transaction with its own offset.
  const committed = producer.transactions.filter((t) => t.outcome === 'committed');
  expect(committed.flatMap((t) => keysOf(t, 'a'))).toEqual(['0-0', '0-1', '2-0', '2-1']);
  expect(commits).toEqual([1, 1]);
  // Each refusal renewed the producer (sequence numbers start over), disconnecting the old one.
  expect(producer.transactions.map((t) => t.producer)).toEqual([1, 2, 2, 3]);
  expect(producer.disconnected).toEqual([1, 2]);
  await c.close();
  expect(producer.disconnected).toEqual([1, 2, 3]);
});

test('a producer that fails to open fails the transaction it was for; the next one opens it again', async () => {
  const producer = new FakeProducer();
  let failOpen = false;
  const reported: unknown[] = [];
  const c = await TransactionCoalescer.create({
    open: async () => {
      if (failOpen) throw new BrokerDown('no broker');
      return producer.open();
    },
    consumer,
    classify,
    onCleanupFailed: (e) => reported.push(e),
  });
  producer.failCommit = (t) => (t.producer === 1 ? new TooLarge('MESSAGE_TOO_LARGE') : undefined);
  failOpen = true;
  await expect(c.commit(part(0, 1, 1))).rejects.toBeInstanceOf(TooLarge);
  await expect(c.commit(part(0, 1, 1))).rejects.toBeInstanceOf(BrokerDown);
  failOpen = false;
  await c.commit(part(0, 1, 1));
  expect(producer.transactions.map((t) => [t.producer, t.outcome])).toEqual([
    [1, 'aborted'],
    [2, 'committed'],
  ]);
  // The renewal's failed open, which no transaction carried, is reported once the next transaction finds it.
  expect(reported.map((e) => (e as Error).message)).toEqual(['no broker', 'no broker']);
});

test('a part failing permanently on its own is refused once, without another try by the coalescer', async () => {
  const producer = new FakeProducer();
  const { c } = await coalescer(producer);
  producer.failCommit = () => new Error('TOPIC_AUTHORIZATION_FAILED');
  await expect(c.commit(part(0, 1, 1))).rejects.toThrow('TOPIC_AUTHORIZATION_FAILED');
  expect(producer.transactions).toHaveLength(1);
});

test('parts past maxRecords wait for the next transaction; a part larger than maxRecords goes alone', async () => {
  const producer = new FakeProducer();
  const { c } = await coalescer(producer, { maxRecords: 10 });
  // 2 topics x 2 records = 4 records a part: two parts fit, a third does not; the last part alone is 2 x 8 = 16.
  await Promise.all([c.commit(part(0, 2, 1)), c.commit(part(1, 2, 2)), c.commit(part(2, 2, 3)), c.commit(part(3, 8, 4)), c.commit(part(4, 1, 5))]);
  expect(producer.transactions.map(partitionsOf)).toEqual([[0, 1], [2], [3], [4]]);
  expect(producer.transactions.every((t) => t.outcome === 'committed')).toBe(true);
});

test('an abort that fails after a failed transaction is reported; the part gets the transaction error', async () => {
  const producer = new FakeProducer();
  const abortErrors: unknown[] = [];
  const { c } = await coalescer(producer, { onCleanupFailed: (e) => abortErrors.push(e) });
  producer.failCommit = () => new BrokerDown('broker gone');
  producer.abortError = new Error('abort failed');
  await expect(c.commit(part(0, 1, 1))).rejects.toBeInstanceOf(BrokerDown);
  expect(abortErrors).toEqual([producer.abortError]);
});

test('a part with no records still commits its offsets (a batch of only dead or repeated events)', async () => {
  const producer = new FakeProducer();
  const { c } = await coalescer(producer);
  await c.commit({ records: [{ topic: 'a', records: [] }], offsets: [{ topic: 'src', partition: 5, offset: '7' }] });
  expect(producer.transactions[0]!.records).toEqual([]);
  expect(producer.transactions[0]!.offsets).toEqual([{ topic: 'src', partition: 5, offset: '7' }]);
});

test('mergeOffsets keeps one offset per partition, the later part winning', () => {
  expect(mergeOffsets([part(0, 1, 5), part(1, 1, 9), part(0, 1, 8)])).toEqual([
    { topic: 'src', partition: 0, offset: '8' },
    { topic: 'src', partition: 1, offset: '9' },
  ]);
});
