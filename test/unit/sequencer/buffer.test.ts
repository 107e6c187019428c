import { describe, expect, it } from '@jest/globals';
import { SequencerBuffer, type Emitted, type SequencerBufferOptions } from '../../../src/sequencer/buffer.js';
import { seededRandom, shuffled } from '../seeded-random.js';

function buffer(overrides: Partial<SequencerBufferOptions> = {}, groups: readonly string[] = ['g']): SequencerBuffer<string> {
  const b = new SequencerBuffer<string>({ holdMs: 2_000, maxPerGroup: 100, maxBuffered: 1_000, maxIdleGroups: 1_000, ...overrides });
  for (const group of groups) b.restore(group, { nextExpected: 1n });
  return b;
}

const seqs = (emitted: readonly Emitted<string>[]): number[] => emitted.map((e) => Number(e.seq));

describe('SequencerBuffer in order', () => {
  it('emits each event at once when it is the next expected', () => {
    const b = buffer();
    expect(b.offer('g', 1n, 'e1', 0)).toEqual({ status: 'in-order', emitted: [{ group: 'g', seq: 1n, item: 'e1' }] });
    expect(b.offer('g', 2, 'e2', 0)).toEqual({ status: 'in-order', emitted: [{ group: 'g', seq: 2n, item: 'e2' }] });
    expect(b.size).toBe(0);
    expect(b.snapshot('g')).toEqual({ nextExpected: 3n, skipped: [], assumeLateThrough: 0n });
  });

  it('starts from the next expected seq restored from the store', () => {
    const b = new SequencerBuffer<string>({ holdMs: 2_000, maxPerGroup: 10, maxBuffered: 10, maxIdleGroups: 10 });
    expect(b.knows('g')).toBe(false);
    expect(b.restore('g', { nextExpected: 57 })).toBe(true);
    expect(b.knows('g')).toBe(true);
    expect(b.offer('g', 57, 'e57', 0).status).toBe('in-order');
    expect(b.offer('g', 50, 'e50', 0).status).toBe('duplicate');
  });

  it('keeps the state in memory when restored twice: memory is newer than the store', () => {
    const b = buffer();
    b.offer('g', 1, 'e1', 0);
    expect(b.restore('g', { nextExpected: 1 })).toBe(false);
    expect(b.offer('g', 2, 'e2', 0).status).toBe('in-order');
  });

  it('refuses events of a group that was not restored', () => {
    const b = buffer();
    expect(() => b.offer('other', 1, 'x', 0)).toThrow('sequencer group "other" is not restored');
    expect(() => b.fail('other', 1, 0)).toThrow('not restored');
    expect(b.snapshot('other')).toBeUndefined();
  });

  it('handles seqs beyond 2^53', () => {
    const b = buffer({}, []);
    b.restore('g', { nextExpected: 9007199254740993n });
    b.offer('g', 9007199254740994n, 'b', 0);
    expect(b.offer('g', 9007199254740993n, 'a', 0).emitted.map((e) => e.seq)).toEqual([9007199254740993n, 9007199254740994n]);
    expect(b.snapshot('g')?.nextExpected).toBe(9007199254740995n);
  });
});

describe('SequencerBuffer out of order', () => {
  it('holds events ahead of a gap and emits them in order once it closes', () => {
    const b = buffer();
    expect(b.offer('g', 3, 'e3', 0)).toEqual({ status: 'held', emitted: [] });
    expect(b.offer('g', 2, 'e2', 0)).toEqual({ status: 'held', emitted: [] });
    expect(b.size).toBe(2);
    const result = b.offer('g', 1, 'e1', 0);
    expect(result.status).toBe('in-order');
    expect(result.emitted.map((e) => e.item)).toEqual(['e1', 'e2', 'e3']);
    expect(b.size).toBe(0);
  });

  it('releases only up to the next gap', () => {
    const b = buffer();
    b.offer('g', 2, 'e2', 0);
    b.offer('g', 4, 'e4', 0);
    expect(seqs(b.offer('g', 1, 'e1', 0).emitted)).toEqual([1, 2]);
    expect(b.size).toBe(1);
    expect(seqs(b.offer('g', 3, 'e3', 0).emitted)).toEqual([3, 4]);
  });

  it('reports a second copy of a held event as duplicate and keeps the first', () => {
    const b = buffer();
    b.offer('g', 2, 'first', 0);
    expect(b.offer('g', 2, 'second', 0).status).toBe('duplicate');
    expect(b.fail('g', 2, 0).status).toBe('duplicate');
    expect(b.offer('g', 1, 'e1', 0).emitted.map((e) => e.item)).toEqual(['e1', 'first']);
    expect(b.offer('g', 2, 'again', 0).status).toBe('duplicate');
  });
});

describe('SequencerBuffer failures', () => {
  it('closes the gap of a failed event at once, emitting nothing for it', () => {
    const b = buffer();
    b.offer('g', 2, 'e2', 0);
    b.offer('g', 3, 'e3', 0);
    expect(b.fail('g', 1, 0)).toEqual({
      status: 'in-order',
      emitted: [
        { group: 'g', seq: 2n, item: 'e2' },
        { group: 'g', seq: 3n, item: 'e3' },
      ],
    });
  });

  it('remembers a failure ahead of the gap and steps over it later', () => {
    const b = buffer();
    expect(b.fail('g', 2, 0)).toEqual({ status: 'held', emitted: [] });
    b.offer('g', 3, 'e3', 0);
    expect(b.size).toBe(2); // a failure marker counts: it takes memory too
    expect(seqs(b.offer('g', 1, 'e1', 0).emitted)).toEqual([1, 3]);
    expect(b.size).toBe(0);
  });

  it('takes a redelivered event whose failure closed its gap for a duplicate', () => {
    const b = buffer();
    b.fail('g', 1, 0);
    expect(b.offer('g', 1, 'e1', 0).status).toBe('duplicate');
    expect(b.fail('g', 1, 0).status).toBe('duplicate');
  });
});

describe('SequencerBuffer expiry', () => {
  it('skips a gap once the event after it waited holdMs, then reports the missing one as late', () => {
    const b = buffer();
    b.offer('g', 3, 'e3', 0);
    expect(b.expire(1_999)).toEqual({ emitted: [], skipped: [] });
    expect(b.expire(2_000)).toEqual({
      emitted: [{ group: 'g', seq: 3n, item: 'e3' }],
      skipped: [{ group: 'g', from: 1n, to: 2n }],
    });
    expect(b.offer('g', 2, 'e2', 2_100)).toEqual({ status: 'late', emitted: [] });
    expect(b.offer('g', 1, 'e1', 2_100).status).toBe('late');
    expect(b.offer('g', 3, 'e3', 2_100).status).toBe('duplicate');
    expect(b.offer('g', 4, 'e4', 2_100).status).toBe('in-order');
    expect(b.snapshot('g')).toEqual({ nextExpected: 5n, skipped: [{ from: 1n, to: 2n }], assumeLateThrough: 0n });
  });

  it('skips every gap below the latest event that waited holdMs, and no further', () => {
    const b = buffer();
    b.offer('g', 3, 'e3', 0);
    b.offer('g', 6, 'e6', 0);
    b.offer('g', 8, 'e8', 1_500);
    const first = b.expire(2_000);
    expect(seqs(first.emitted)).toEqual([3, 6]);
    expect(first.skipped).toEqual([
      { group: 'g', from: 1n, to: 2n },
      { group: 'g', from: 4n, to: 5n },
    ]);
    expect(b.size).toBe(1); // 8 has waited 500 ms only
    const second = b.expire(3_500);
    expect(seqs(second.emitted)).toEqual([8]);
    expect(second.skipped).toEqual([{ group: 'g', from: 7n, to: 7n }]);
  });

  it('measures the wait of the longest waiting event, whatever its seq', () => {
    const b = buffer();
    b.offer('g', 5, 'e5', 0);
    b.offer('g', 3, 'e3', 1_000);
    const result = b.expire(2_000);
    expect(seqs(result.emitted)).toEqual([3, 5]);
    expect(result.skipped.map((s) => [Number(s.from), Number(s.to)])).toEqual([
      [1, 2],
      [4, 4],
    ]);
  });

  it('emits the events right behind a skipped gap even if they waited less', () => {
    const b = buffer();
    b.offer('g', 3, 'e3', 0);
    b.offer('g', 4, 'e4', 1_900);
    expect(seqs(b.expire(2_000).emitted)).toEqual([3, 4]);
  });

  it('lets a failure marker expire too, so nothing waits forever', () => {
    const b = buffer();
    b.fail('g', 3, 0);
    expect(b.expire(2_000)).toEqual({ emitted: [], skipped: [{ group: 'g', from: 1n, to: 2n }] });
    expect(b.size).toBe(0);
    expect(b.offer('g', 4, 'e4', 2_000).status).toBe('in-order');
  });

  it('expires groups independently', () => {
    const b = buffer({}, ['a', 'b']);
    b.offer('a', 2, 'a2', 0);
    b.offer('b', 2, 'b2', 1_000);
    expect(b.expire(2_000).emitted.map((e) => e.item)).toEqual(['a2']);
    expect(b.expire(3_000).emitted.map((e) => e.item)).toEqual(['b2']);
  });

  it('with holdMs 0 skips at the next expire', () => {
    const b = buffer({ holdMs: 0 });
    b.offer('g', 2, 'e2', 10);
    expect(seqs(b.expire(10).emitted)).toEqual([2]);
  });
});

describe('SequencerBuffer skipped memory', () => {
  function skipThreeGaps(b: SequencerBuffer<string>): void {
    // gaps 1, 3, 5 skipped; 2, 4, 6 emitted
    for (const seq of [2, 4, 6]) {
      b.offer('g', seq, `e${seq}`, 0);
    }
    b.expire(2_000);
  }

  it('keeps at most maxSkippedRanges and reports anything at or below a forgotten range as late', () => {
    const b = buffer({ maxSkippedRanges: 2 });
    skipThreeGaps(b);
    expect(b.snapshot('g')).toEqual({
      nextExpected: 7n,
      skipped: [
        { from: 3n, to: 3n },
        { from: 5n, to: 5n },
      ],
      assumeLateThrough: 1n,
    });
    expect(b.offer('g', 1, 'e1', 3_000).status).toBe('late'); // forgotten, still late
    expect(b.offer('g', 3, 'e3', 3_000).status).toBe('late');
    expect(b.offer('g', 4, 'e4', 3_000).status).toBe('duplicate');
  });

  it('resumes from a snapshot with the same answers, truncating too many ranges', () => {
    const original = buffer({ maxSkippedRanges: 3 });
    skipThreeGaps(original);
    const snapshot = original.snapshot('g');
    if (snapshot === undefined) throw new Error('known group');

    const restarted = buffer({ maxSkippedRanges: 3 }, []);
    restarted.restore('g', snapshot);
    const smaller = buffer({ maxSkippedRanges: 1 }, []);
    smaller.restore('g', snapshot);
    expect(smaller.snapshot('g')).toEqual({ nextExpected: 7n, skipped: [{ from: 5n, to: 5n }], assumeLateThrough: 3n });

    for (const [seq, expected] of [
      [1, 'late'],
      [2, 'duplicate'],
      [3, 'late'],
      [4, 'duplicate'],
      [5, 'late'],
      [6, 'duplicate'],
    ] as const) {
      expect({ seq, status: restarted.offer('g', seq, 'x', 3_000).status }).toEqual({ seq, status: expected });
    }
    expect(smaller.offer('g', 2, 'x', 3_000).status).toBe('late'); // below a forgotten range: late to be safe
    expect(smaller.offer('g', 4, 'x', 3_000).status).toBe('duplicate');
  });
});

describe('SequencerBuffer bounds', () => {
  it('is full per group at maxPerGroup and overall at maxBuffered, without refusing events', () => {
    const b = buffer({ maxPerGroup: 3, maxBuffered: 5 }, ['a', 'b']);
    for (const seq of [2, 3]) b.offer('a', seq, `a${seq}`, 0);
    expect(b.isFull('a')).toBe(false);
    b.fail('a', 4, 0);
    expect(b.isFull('a')).toBe(true);
    expect(b.isFull('b')).toBe(false);
    expect(b.isFull()).toBe(false);
    b.offer('b', 2, 'b2', 0);
    b.offer('b', 3, 'b3', 0);
    expect(b.isFull()).toBe(true);
    expect(b.isFull('b')).toBe(true);
    expect(b.offer('a', 5, 'a5', 0).status).toBe('held'); // soft bound: the role pauses, the buffer keeps what came
    expect(b.size).toBe(6);
    expect(b.isFull('unknown')).toBe(true);
    b.offer('a', 1, 'a1', 0);
    expect(b.isFull()).toBe(false);
    expect(b.isFull('a')).toBe(false);
  });

  it('forgets the least recently used idle groups beyond maxIdleGroups, never one holding events', () => {
    const b = buffer({ maxIdleGroups: 2 }, []);
    b.restore('holding', { nextExpected: 1 });
    b.offer('holding', 2, 'h2', 0);
    b.restore('a', { nextExpected: 1 });
    b.restore('b', { nextExpected: 1 });
    b.offer('a', 1, 'a1', 0); // a is now the most recently used idle group
    b.restore('c', { nextExpected: 1 });
    expect(['holding', 'a', 'b', 'c'].filter((g) => b.knows(g))).toEqual(['holding', 'a', 'c']);

    b.offer('holding', 1, 'h1', 0); // now idle and most recent
    expect(['holding', 'a', 'c'].filter((g) => b.knows(g))).toEqual(['holding', 'c']);
  });
});

describe('SequencerBuffer, many groups', () => {
  it('emits each group in seq order, exactly once, whatever the arrival order', () => {
    const random = seededRandom(7);
    const groups = Array.from({ length: 50 }, (_, i) => `customer-${i}`);
    const b = buffer({ maxPerGroup: 100, maxBuffered: 5_000 }, groups);
    const arrivals = shuffled(
      groups.flatMap((group) => Array.from({ length: 40 }, (_, i) => ({ group, seq: i + 1 }))),
      random,
    );
    const emitted: Emitted<string>[] = [];
    for (const { group, seq } of arrivals) emitted.push(...b.offer(group, seq, `${group}#${seq}`, 0).emitted);

    expect(b.size).toBe(0);
    for (const group of groups) {
      expect(emitted.filter((e) => e.group === group).map((e) => Number(e.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    }
  });

  it('with lost, failed and slow events: emits in order, accounts for every seq once and reports late arrivals', () => {
    for (const seed of [1, 2, 3]) {
      const random = seededRandom(seed);
      const groups = Array.from({ length: 20 }, (_, i) => `g${i}`);
      const perGroup = 60;
      const b = buffer({ holdMs: 2_000 }, groups);
      type Fate = 'ok' | 'failed' | 'lost';
      const plan = groups.flatMap((group) =>
        Array.from({ length: perGroup }, (_, i) => {
          const roll = random();
          const fate: Fate = roll < 0.05 ? 'lost' : roll < 0.1 ? 'failed' : 'ok';
          // most arrive within a second; a few are slow, beyond holdMs
          const at = (i * 50) + (random() < 0.05 ? 2_500 + random() * 3_000 : random() * 1_000);
          return { group, seq: i + 1, fate, at };
        }),
      );
      const arrivals = plan.filter((p) => p.fate !== 'lost').sort((x, y) => x.at - y.at);
      const lastArrived = (group: string) => Math.max(...arrivals.filter((p) => p.group === group).map((p) => p.seq));

      const emitted: Emitted<string>[] = [];
      const late = new Set<string>();
      const skipped = new Set<string>();
      let tick = 0;
      const expireUpTo = (t: number) => {
        for (; tick <= t; tick += 100) {
          const result = b.expire(tick);
          emitted.push(...result.emitted);
          for (const gap of result.skipped) for (let s = gap.from; s <= gap.to; s += 1n) skipped.add(`${gap.group}#${s}`);
        }
      };
      for (const p of arrivals) {
        expireUpTo(p.at);
        const result = p.fate === 'failed' ? b.fail(p.group, p.seq, p.at) : b.offer(p.group, p.seq, `${p.group}#${p.seq}`, p.at);
        expect(result.status).not.toBe('duplicate');
        if (result.status === 'late') late.add(`${p.group}#${p.seq}`);
        emitted.push(...result.emitted);
      }
      expireUpTo(tick + 10_000);
      expect(b.size).toBe(0);

      const emittedIds = emitted.map((e) => e.item);
      expect(new Set(emittedIds).size).toBe(emittedIds.length);
      for (const group of groups) {
        const order = emitted.filter((e) => e.group === group).map((e) => e.seq);
        expect(order).toEqual([...order].sort((x, y) => (x < y ? -1 : 1)));
        // a lost tail has no later event to wait past it, so it is never skipped
        expect(b.snapshot(group)?.nextExpected).toBe(BigInt(lastArrived(group) + 1));
      }
      for (const p of plan) {
        const id = `${p.group}#${p.seq}`;
        const outcome = emittedIds.includes(id) ? 'emitted' : late.has(id) ? 'late' : skipped.has(id) ? 'skipped' : 'neither';
        if (p.fate === 'lost') expect({ id, outcome }).toEqual({ id, outcome: p.seq < lastArrived(p.group) ? 'skipped' : 'neither' });
        if (p.fate === 'ok') expect(['emitted', 'late']).toContain(outcome);
        if (late.has(id)) expect(skipped.has(id)).toBe(true);
      }
      expect(late.size).toBeGreaterThan(0);
    }
  });
});

describe('SequencerBuffer validation', () => {
  it('rejects seqs below 1 and bad options', () => {
    const b = buffer();
    expect(() => b.offer('g', 0, 'x', 0)).toThrow('seq starts at 1, got 0');
    expect(() => b.restore('h', { nextExpected: 0n })).toThrow('seq starts at 1');
    expect(() => b.offer('g', 1.5, 'x', 0)).toThrow(RangeError);
    expect(() => buffer({ holdMs: -1 })).toThrow('holdMs');
    expect(() => buffer({ maxPerGroup: 0 })).toThrow('maxPerGroup must be an integer >= 1');
    expect(() => buffer({ maxIdleGroups: 0 })).toThrow('maxIdleGroups');
    expect(() => buffer({ maxSkippedRanges: 0 })).toThrow('maxSkippedRanges');
  });
});
