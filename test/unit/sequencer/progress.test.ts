import { describe, expect, it } from '@jest/globals';
import { PartitionProgress, chooseSnapshot, decodeSnapshot, encodeSnapshot } from '../../../src/sequencer/progress.js';

describe('PartitionProgress', () => {
  it('has no position before anything was taken', () => {
    const p = new PartitionProgress();
    expect(p.commitPosition()).toBeUndefined();
    expect(p.pendingCommit()).toBeUndefined();
  });

  it('commits past the last record taken when nothing is held', () => {
    const p = new PartitionProgress();
    for (const offset of ['10', '11', '12']) p.take(offset);
    expect(p.commitPosition()).toBe(13n);
  });

  it('commits at the lowest held offset, whatever the seq order', () => {
    const p = new PartitionProgress();
    for (let offset = 10; offset <= 20; offset += 1) p.take(String(offset));
    p.hold('a', 5n, '14');
    p.hold('b', 3n, '12');
    p.hold('a', 4n, '17');
    expect(p.commitPosition()).toBe(12n);
    expect(p.heldCount).toBe(3);
    p.release('b', 4n);
    expect(p.commitPosition()).toBe(14n);
    p.release('a', 5n); // passes seq 4 (offset 17) only
    expect(p.commitPosition()).toBe(14n);
    p.release('a', 6n);
    expect(p.commitPosition()).toBe(21n);
    expect(p.heldCount).toBe(0);
    expect([...p.heldGroups()]).toEqual([]);
  });

  it('keeps the highest offset taken when a rebalance re-delivers older records', () => {
    const p = new PartitionProgress();
    p.take('30');
    p.take('25');
    expect(p.commitPosition()).toBe(31n);
  });

  it('counts a seq held twice once and lists the groups holding something', () => {
    const p = new PartitionProgress();
    p.hold('a', 2n, '1');
    p.hold('a', 2n, '1');
    p.hold('b', 9n, '3');
    expect(p.heldCount).toBe(2);
    expect([...p.heldGroups()].sort()).toEqual(['a', 'b']);
  });

  it('offers a commit only when the position moved since the last one', () => {
    const p = new PartitionProgress();
    p.take('0');
    expect(p.pendingCommit()).toBe(1n);
    p.markCommitted(1n);
    expect(p.pendingCommit()).toBeUndefined();
    p.take('1');
    expect(p.pendingCommit()).toBe(2n);
  });
});

describe('snapshots', () => {
  const snapshot = { nextExpected: 9007199254740995n, skipped: [{ from: 3n, to: 5n }, { from: 8n, to: 8n }], assumeLateThrough: 2n };

  it('round-trips, bigints beyond 2^53 included', () => {
    expect(decodeSnapshot(encodeSnapshot(snapshot))).toEqual(snapshot);
    expect(encodeSnapshot({ nextExpected: 7n, skipped: [], assumeLateThrough: 0n })).toBe('{"n":"7","s":[],"l":"0"}');
  });

  it.each([
    ['not json', 'is not JSON'],
    ['{"s":[],"l":"0"}', 'next expected is not a decimal string'],
    ['{"n":"1","l":"0"}', 'has no skipped list'],
    ['{"n":"1","s":[["1"]],"l":"0"}', 'skipped range is not [from, to]'],
    ['{"n":"1","s":[["1","x"]],"l":"0"}', 'skipped to is not a decimal string'],
    ['{"n":"0","s":[],"l":"0"}', 'next expected must be >= 1'],
    ['{"n":"1","s":[],"l":-1}', 'assume-late-through is not a decimal string'],
  ])('refuses %s naming what is wrong', (text, message) => {
    expect(() => decodeSnapshot(text)).toThrow(message);
  });

  it('restores the written snapshot when its flush committed, the previous one when not, a fresh group when neither', () => {
    const fresh = { nextExpected: 1n, skipped: [], assumeLateThrough: 0n };
    const older = { nextExpected: 4n, skipped: [], assumeLateThrough: 0n };
    const stored = { token: 't2', snapshot: encodeSnapshot(snapshot), previous: encodeSnapshot(older) };
    expect(chooseSnapshot(stored, (t) => t === 't2')).toEqual(snapshot);
    expect(chooseSnapshot(stored, () => false)).toEqual(older);
    expect(chooseSnapshot({ token: 't1', snapshot: encodeSnapshot(snapshot) }, () => false)).toEqual(fresh);
    expect(chooseSnapshot(undefined, () => true)).toEqual(fresh);
  });
});
