import { describe, expect, it } from '@jest/globals';
import { KeyScheduler, type KeySchedulerOptions, type SchedulableRecord } from '../../../src/runtime/key-scheduler.js';
import { seededRandom, shuffled } from '../seeded-random.js';

interface TestRecord extends SchedulableRecord {
  readonly payload: string;
}

function rec(partition: number, offset: number | string, key: string): TestRecord {
  return { partition, offset: String(offset), key, payload: `${key}@${partition}/${offset}` };
}

function scheduler(overrides: Partial<KeySchedulerOptions> = {}): KeyScheduler<TestRecord> {
  return new KeyScheduler<TestRecord>({
    ordering: 'key',
    concurrency: 100,
    maxBuffered: 1_000,
    maxBufferedPerPartition: 1_000,
    ...overrides,
  });
}

const offsets = (records: readonly TestRecord[]): string[] => records.map((r) => `${r.partition}/${r.offset}`);

describe('KeyScheduler, ordering: key', () => {
  it('runs one record per key at a time and the next of that key only after complete', () => {
    const s = scheduler();
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b'), rec(0, 2, 'a'), rec(0, 3, 'c'), rec(0, 4, 'a')]);

    const first = s.drainRunnable();
    expect(offsets(first)).toEqual(['0/0', '0/1', '0/3']);
    expect(s.nextRunnable()).toBeUndefined();

    s.complete(first[0] as TestRecord);
    expect(offsets(s.drainRunnable())).toEqual(['0/2']);
    expect(s.nextRunnable()).toBeUndefined();
  });

  it('lets keys take turns, so one busy key cannot starve the others', () => {
    const s = scheduler({ concurrency: 1 });
    s.enqueue([rec(0, 0, 'busy'), rec(0, 1, 'busy'), rec(0, 2, 'busy'), rec(0, 3, 'quiet')]);
    const started: TestRecord[] = [];
    for (let r = s.nextRunnable(); r !== undefined; r = s.nextRunnable()) {
      started.push(r);
      s.complete(r);
    }
    expect(offsets(started)).toEqual(['0/0', '0/3', '0/1', '0/2']);
  });

  it('keeps per-key offset order, one in flight per key and the concurrency cap, over many interleaved keys completing in random order', () => {
    for (const seed of [1, 2, 3, 42, 2024]) {
      const random = seededRandom(seed);
      const concurrency = 7;
      const s = scheduler({ concurrency });
      const keys = Array.from({ length: 25 }, (_, i) => `customer-${i}`);
      const perPartition = new Map<number, number>();
      const all: TestRecord[] = [];
      for (let i = 0; i < 3_000; i += 1) {
        const key = keys[Math.floor(random() * keys.length)] as string;
        const partition = keys.indexOf(key) % 4; // a key lives in one partition
        const offset = perPartition.get(partition) ?? 0;
        perPartition.set(partition, offset + 1 + Math.floor(random() * 2)); // gaps, like transaction markers
        all.push(rec(partition, offset, key));
      }

      const startedPerKey = new Map<string, bigint[]>();
      const inFlight = new Set<TestRecord>();
      let fed = 0;
      let done = 0;
      while (done < all.length) {
        if (fed < all.length && random() < 0.3) {
          const batch = all.slice(fed, fed + 1 + Math.floor(random() * 40));
          fed += s.enqueue(batch);
        }
        for (const r of s.drainRunnable()) {
          for (const other of inFlight) expect(other.key).not.toBe(r.key);
          inFlight.add(r);
          startedPerKey.set(r.key, [...(startedPerKey.get(r.key) ?? []), BigInt(r.offset)]);
        }
        expect(inFlight.size).toBeLessThanOrEqual(concurrency);
        expect(s.inFlight).toBe(inFlight.size);
        const running = shuffled([...inFlight], random);
        for (const r of running.slice(0, Math.ceil(running.length * random()))) {
          s.complete(r);
          inFlight.delete(r);
          done += 1;
        }
      }

      for (const [key, started] of startedPerKey) {
        const expected = all.filter((r) => r.key === key).map((r) => BigInt(r.offset));
        expect({ key, started }).toEqual({ key, started: expected });
      }
      expect(s.size).toBe(0);
    }
  });
});

describe('KeyScheduler, ordering: none', () => {
  it('runs records of the same key in parallel up to the concurrency cap', () => {
    const s = scheduler({ ordering: 'none', concurrency: 3 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'a'), rec(0, 2, 'a'), rec(0, 3, 'a')]);
    const started = s.drainRunnable();
    expect(offsets(started)).toEqual(['0/0', '0/1', '0/2']);
    expect(s.nextRunnable()).toBeUndefined();
    s.complete(started[1] as TestRecord);
    expect(offsets(s.drainRunnable())).toEqual(['0/3']);
  });
});

describe('KeyScheduler concurrency', () => {
  it('hands out at most `concurrency` records and one more per completion', () => {
    const s = scheduler({ concurrency: 3 });
    s.enqueue(Array.from({ length: 10 }, (_, i) => rec(i % 2, Math.floor(i / 2), `k${i}`)));
    const started = s.drainRunnable();
    expect(started).toHaveLength(3);
    expect(s.inFlight).toBe(3);
    expect(s.size).toBe(10);
    s.complete(started[0] as TestRecord);
    expect(s.drainRunnable()).toHaveLength(1);
    expect(s.nextRunnable()).toBeUndefined();
  });

  it('release gives a written record\'s slot to another key while the record stays in flight', () => {
    const s = scheduler({ concurrency: 2 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b'), rec(0, 2, 'c'), rec(0, 3, 'a')]);
    const [a0, b1] = s.drainRunnable() as [TestRecord, TestRecord];
    expect(offsets([a0, b1])).toEqual(['0/0', '0/1']);
    expect(s.nextRunnable()).toBeUndefined();
    s.release(a0);
    // c takes a0's slot; a3 still waits behind a0, which is released but not complete.
    expect(offsets(s.drainRunnable())).toEqual(['0/2']);
    expect(s.inFlight).toBe(3);
    expect(s.committable(0)).toBeUndefined();
    s.complete(a0);
    expect(s.committable(0)).toBe('1');
    // a3 may run now, but the two slots are held by b1 and c2.
    expect(s.nextRunnable()).toBeUndefined();
    s.release(b1);
    expect(offsets(s.drainRunnable())).toEqual(['0/3']);
  });

  it('release is a no-op for a record released twice or already completed, so slots are never counted twice', () => {
    const s = scheduler({ concurrency: 1 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b'), rec(0, 2, 'c')]);
    const a = s.nextRunnable() as TestRecord;
    s.release(a);
    s.release(a);
    const b = s.nextRunnable() as TestRecord;
    expect(b.key).toBe('b');
    expect(s.nextRunnable()).toBeUndefined();
    s.complete(a);
    s.release(a);
    expect(s.nextRunnable()).toBeUndefined();
    s.complete(b);
    expect((s.nextRunnable() as TestRecord).key).toBe('c');
  });

  it('an abandoned record that still held its slot gives it back', () => {
    const s = scheduler({ concurrency: 1 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b')]);
    s.abandon(s.nextRunnable() as TestRecord);
    expect((s.nextRunnable() as TestRecord).key).toBe('b');
  });

  it('drainRunnable respects its limit', () => {
    const s = scheduler();
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b'), rec(0, 2, 'c')]);
    expect(s.drainRunnable(2)).toHaveLength(2);
    expect(s.drainRunnable(0)).toHaveLength(0);
    expect(s.drainRunnable()).toHaveLength(1);
  });
});

describe('KeyScheduler commits', () => {
  it('never passes an unfinished record when completions come out of order', () => {
    const s = scheduler({ ordering: 'none' });
    s.enqueue([0, 1, 2, 3, 4].map((o) => rec(0, o, 'k')));
    const [r0, r1, r2, r3, r4] = s.drainRunnable() as [TestRecord, TestRecord, TestRecord, TestRecord, TestRecord];

    expect(s.committable(0)).toBeUndefined(); // nothing finished: offset 0 is where the group already is
    s.complete(r2);
    s.complete(r3);
    expect(s.committable(0)).toBeUndefined();
    s.complete(r0);
    expect(s.committable(0)).toBe('1');
    s.complete(r1);
    expect(s.committable(0)).toBe('4');
    s.complete(r4);
    expect(s.committable(0)).toBe('5'); // Kafka convention: the next offset to read
  });

  it('steps over offsets that carry no record (transaction markers, compaction)', () => {
    const s = scheduler({ ordering: 'none' });
    s.enqueue([rec(3, 10, 'a'), rec(3, 12, 'b'), rec(3, 15, 'c')]);
    const [r10, r12, r15] = s.drainRunnable() as [TestRecord, TestRecord, TestRecord];
    s.complete(r10);
    expect(s.committable(3)).toBe('12');
    s.complete(r15);
    expect(s.committable(3)).toBe('12');
    s.complete(r12);
    expect(s.committable(3)).toBe('16');
  });

  it('commits past a trailing transaction marker once the records before it finished', () => {
    const s = scheduler({ ordering: 'none' });
    s.enqueue([rec(0, 4, 'a'), rec(0, 5, 'b')]);
    const [r4, r5] = s.drainRunnable() as [TestRecord, TestRecord];
    s.skip(0, '6', '6'); // the commit marker after offset 5
    s.complete(r5);
    expect(s.committable(0)).toBeUndefined(); // r4 still unfinished: the marker does not jump it
    s.complete(r4);
    expect(s.committable(0)).toBe('7');
  });

  it('a partition whose first fetch holds only a marker commits past it', () => {
    const s = scheduler();
    s.skip(2, '9', '9');
    expect(s.committable(2)).toBe('10');
    s.markCommitted(2, '10');
    s.skip(2, '9', '9'); // a repeat changes nothing
    expect(s.committable(2)).toBeUndefined();
  });

  it('keeps partitions apart', () => {
    const s = scheduler();
    s.enqueue([rec(0, 5, 'a'), rec(1, 7, 'b'), rec(0, 6, 'c')]);
    const started = s.drainRunnable();
    s.complete(started.find((r) => r.partition === 1) as TestRecord);
    expect(s.committable(1)).toBe('8');
    expect(s.committable(0)).toBeUndefined();
    expect(s.committable(9)).toBeUndefined();
    expect(s.committableOffsets()).toEqual([{ partition: 1, offset: '8' }]);
  });

  it('offers an offset until markCommitted, so a failed commit is retried', () => {
    const s = scheduler();
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b')]);
    const [a, b] = s.drainRunnable() as [TestRecord, TestRecord];
    s.complete(a);
    expect(s.committableOffsets()).toEqual([{ partition: 0, offset: '1' }]);
    expect(s.committableOffsets()).toEqual([{ partition: 0, offset: '1' }]); // the commit failed: still there
    s.markCommitted(0, '1');
    expect(s.committable(0)).toBeUndefined();
    s.markCommitted(0, '0'); // an older commit acknowledged late does not move it back
    expect(s.committable(0)).toBeUndefined();
    s.complete(b);
    expect(s.committable(0)).toBe('2');
    s.markCommitted(7, '3'); // an unknown partition is ignored
    expect(s.committable(7)).toBeUndefined();
  });

  it('handles offsets beyond 2^53 exactly', () => {
    const s = scheduler();
    s.enqueue([rec(0, '9007199254740993', 'a'), rec(0, '9007199254740994', 'b')]);
    for (const r of s.drainRunnable()) s.complete(r);
    expect(s.committable(0)).toBe('9007199254740995');
  });

  it('skips re-fetched records it already holds, so a redelivered batch runs nothing twice', () => {
    const s = scheduler();
    expect(s.enqueue([0, 1, 2, 3].map((o) => rec(0, o, `k${o}`)))).toBe(4);
    const first = s.drainRunnable();
    s.complete(first[0] as TestRecord);
    expect(s.enqueue([2, 3, 4, 5].map((o) => rec(0, o, `k${o}`)))).toBe(2);
    expect(offsets(s.drainRunnable())).toEqual(['0/4', '0/5']);
    expect(s.size).toBe(5);
  });
});

describe('KeyScheduler capacity and watermarks', () => {
  it('is full at maxBuffered overall and at maxBufferedPerPartition for a partition', () => {
    const s = scheduler({ maxBuffered: 10, maxBufferedPerPartition: 4 });
    s.enqueue([0, 1, 2].map((o) => rec(0, o, `a${o}`)));
    expect(s.isFull(0)).toBe(false);
    s.enqueue([rec(0, 3, 'a3')]);
    expect(s.isFull(0)).toBe(true);
    expect(s.isFull(1)).toBe(false);
    expect(s.isFull()).toBe(false);

    s.enqueue([0, 1, 2].map((o) => rec(1, o, `b${o}`)));
    s.enqueue([0, 1, 2].map((o) => rec(2, o, `c${o}`)));
    expect(s.size).toBe(10);
    expect(s.isFull()).toBe(true);
    expect(s.isFull(2)).toBe(true); // the whole buffer is full, so every partition should pause
  });

  it('counts in-flight records as buffered until they complete', () => {
    const s = scheduler({ maxBuffered: 2, maxBufferedPerPartition: 2 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b')]);
    const started = s.drainRunnable();
    expect(s.isFull()).toBe(true);
    s.complete(started[0] as TestRecord);
    expect(s.isFull()).toBe(false);
  });

  it('signals resume only once drained to the low watermark (half by default)', () => {
    const s = scheduler({ ordering: 'none', maxBuffered: 8, maxBufferedPerPartition: 6 });
    s.enqueue([0, 1, 2, 3, 4, 5].map((o) => rec(0, o, 'a')));
    s.enqueue([rec(1, 0, 'b'), rec(1, 1, 'b')]);
    expect(s.isFull(0)).toBe(true);
    const partition0 = s.drainRunnable().filter((r) => r.partition === 0);

    const resumes: boolean[] = [];
    for (const r of partition0) {
      s.complete(r);
      resumes.push(s.shouldResume(0));
    }
    // partition 0: 6 -> 0; total 8 -> 2; resume needs partition <= 3 and total <= 4
    expect(resumes).toEqual([false, false, false, true, true, true]);
    expect(s.shouldResume()).toBe(true);
  });

  it('takes the resume ratio from the options', () => {
    const s = scheduler({ ordering: 'none', maxBuffered: 10, maxBufferedPerPartition: 10, resumeRatio: 0.2 });
    s.enqueue([0, 1, 2].map((o) => rec(0, o, 'a')));
    expect(s.shouldResume(0)).toBe(false);
    s.complete(s.nextRunnable() as TestRecord);
    expect(s.shouldResume(0)).toBe(true);
    expect(s.shouldResume()).toBe(true);
  });

  it('lets a paused consumer resume without a partition when the total is low', () => {
    const s = scheduler({ maxBuffered: 4, maxBufferedPerPartition: 4 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b'), rec(0, 2, 'c')]);
    expect(s.shouldResume()).toBe(false);
    s.complete(s.nextRunnable() as TestRecord);
    expect(s.shouldResume()).toBe(true);
  });
});

describe('KeyScheduler revoke', () => {
  it('drops queued records of revoked partitions and forgets their offsets', () => {
    const s = scheduler({ concurrency: 1 });
    s.enqueue([rec(0, 0, 'a'), rec(1, 0, 'b'), rec(0, 1, 'c'), rec(1, 1, 'd')]);
    const running = s.nextRunnable() as TestRecord; // 0/0
    s.revoke([1]);
    expect(s.size).toBe(2);
    expect(s.committable(1)).toBeUndefined();
    s.complete(running);
    expect(offsets(s.drainRunnable())).toEqual(['0/1']);
    expect(s.nextRunnable()).toBeUndefined();
    expect(s.committable(0)).toBe('1');
  });

  it('lets in-flight records of a revoked partition finish without counting for its commits', () => {
    const s = scheduler({ concurrency: 10 });
    s.enqueue([rec(1, 0, 'a'), rec(1, 1, 'b')]);
    const [a, b] = s.drainRunnable() as [TestRecord, TestRecord];
    s.revoke([1]);
    expect(s.size).toBe(2);
    expect(s.inFlight).toBe(2);
    s.complete(a);
    expect(s.committable(1)).toBeUndefined();

    // re-assigned: the new assignment starts from the committed offset and counts alone
    s.enqueue([rec(1, 0, 'x'), rec(1, 1, 'y')]);
    s.complete(b); // from the old assignment: must not move the new one's commit
    expect(s.committable(1)).toBeUndefined();
    const again = s.drainRunnable();
    expect(offsets(again)).toEqual(['1/0', '1/1']);
    s.complete(again[0] as TestRecord);
    expect(s.committable(1)).toBe('1');
  });

  it('keeps a key blocked by its in-flight record across a quick re-assignment', () => {
    const s = scheduler();
    s.enqueue([rec(2, 5, 'a'), rec(2, 6, 'a')]);
    const old = s.nextRunnable() as TestRecord;
    s.revoke([2]);
    s.enqueue([rec(2, 5, 'a'), rec(2, 6, 'a')]); // the new assignment re-reads from offset 5
    expect(s.nextRunnable()).toBeUndefined();
    s.complete(old);
    expect(offsets(s.drainRunnable())).toEqual(['2/5']);
  });

  it('ignores partitions it does not hold and keeps other keys of a shared lane', () => {
    const s = scheduler({ concurrency: 1 });
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'a'), rec(1, 0, 'a')]); // a key in two partitions: still one lane
    s.revoke([7]);
    expect(s.size).toBe(3);
    s.revoke([0]);
    expect(offsets(s.drainRunnable())).toEqual(['1/0']);
  });
});

describe('KeyScheduler abandon (a graceful stop)', () => {
  it('takes an abandoned record out of flight without letting its partition commit past it', () => {
    const s = scheduler();
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'b'), rec(0, 2, 'c')]);
    const [a, b, c] = s.drainRunnable() as [TestRecord, TestRecord, TestRecord];
    s.complete(a);
    s.abandon(b);
    s.complete(c);
    expect(s.inFlight).toBe(0);
    expect(s.committable(0)).toBe('1');
  });

  it('frees the abandoned record\'s key', () => {
    const s = scheduler();
    s.enqueue([rec(0, 0, 'a'), rec(0, 1, 'a')]);
    const first = s.nextRunnable() as TestRecord;
    expect(s.nextRunnable()).toBeUndefined();
    s.abandon(first);
    expect(offsets(s.drainRunnable())).toEqual(['0/1']);
  });

  it('refuses a record that is not in flight', () => {
    const s = scheduler();
    s.enqueue([rec(0, 0, 'a')]);
    expect(() => s.abandon(rec(0, 0, 'a'))).toThrow('abandon() of a record that is not in flight: partition 0 offset 0');
  });
});

describe('KeyScheduler misuse', () => {
  it('refuses to complete a record that is not in flight', () => {
    const s = scheduler();
    const a = rec(0, 0, 'a');
    s.enqueue([a]);
    expect(() => s.complete(a)).toThrow('not in flight: partition 0 offset 0');
    s.complete(s.nextRunnable() as TestRecord);
    expect(() => s.complete(a)).toThrow('not in flight');
  });

  it('validates its options', () => {
    expect(() => scheduler({ concurrency: 0 })).toThrow('concurrency must be an integer >= 1');
    expect(() => scheduler({ maxBuffered: 1.5 })).toThrow('maxBuffered');
    expect(() => scheduler({ maxBufferedPerPartition: -1 })).toThrow('maxBufferedPerPartition');
    expect(() => scheduler({ resumeRatio: 1 })).toThrow('resumeRatio');
  });
});
