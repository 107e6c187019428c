/**
 * The decisions behind detecting a Redis that lost flowyard's state (src/dedup/epoch.ts) and
 * rebuilding it from completions (src/dedup/rebuild.ts), without I/O.
 */
import { judgeAtStart, judgeRunning } from '../../../src/dedup/epoch.js';
import { collectState, emptyState } from '../../../src/dedup/rebuild.js';
import type { Completion } from '../../../src/runtime/completion.js';

describe('judgeAtStart', () => {
  test('a stored epoch is adopted whatever Kafka says', () => {
    expect(judgeAtStart('e1', true)).toEqual({ kind: 'armed', epoch: 'e1' });
    expect(judgeAtStart('e1', false)).toEqual({ kind: 'armed', epoch: 'e1' });
  });
  test('no epoch and nothing routed before: a first run, not a loss', () => {
    expect(judgeAtStart(null, false)).toEqual({ kind: 'first-run' });
  });
  test('no epoch although the router group committed offsets: lost', () => {
    expect(judgeAtStart(null, true)).toEqual({ kind: 'lost', reason: expect.stringContaining('router group has committed offsets') });
  });
});

describe('judgeRunning', () => {
  test('the same epoch is armed', () => {
    expect(judgeRunning('e1', 'e1')).toEqual({ kind: 'armed', epoch: 'e1' });
  });
  test('a missing epoch is a loss, naming the one that disappeared', () => {
    expect(judgeRunning('e1', null)).toEqual({ kind: 'lost', reason: expect.stringContaining('(e1) disappeared') });
  });
  test('a new epoch (written by a recovery) is adopted', () => {
    expect(judgeRunning('e1', 'e2')).toEqual({ kind: 'armed', epoch: 'e2' });
  });
  test('a process that armed on a lost state adopts the epoch a recovery writes', () => {
    expect(judgeRunning('', null).kind).toBe('lost');
    expect(judgeRunning('', 'e2')).toEqual({ kind: 'armed', epoch: 'e2' });
  });
});

describe('collectState', () => {
  const base = { key: 'k1', plan: 'p@1', ingestedAt: 1, at: 5, value: null, origin: { topic: 't', partition: 0, offset: '0' } };
  const ok = (eventId: string, seq: number, destination: string): Completion => ({ ...base, kind: 'destination', eventId, seq, destination, status: 'ok', attempts: 1 });

  test('an ok write proves routed, its seq, the group seq, its done-key and the tracker outcome', () => {
    const state = emptyState();
    collectState(state, ok('a', 3, 'ledger'), new Set());
    collectState(state, ok('b', 7, 'ledger'), new Set());
    collectState(state, ok('c', 5, 'notify'), new Set());
    expect(state.seqOf).toEqual(new Map([['a', 3], ['b', 7], ['c', 5]]));
    expect(state.seqMax).toEqual(new Map([['k1', 7]]));
    expect(state.done.get('ledger')).toEqual(new Set(['a', 'b']));
    expect(state.track.get('a')).toEqual(new Map([['w:ledger', 'ok'], ['t:ledger', '5']]));
  });

  test('a failed write is tracked but gets no done-key; a join destination is marked released', () => {
    const state = emptyState();
    collectState(state, { ...ok('a', 1, 'join'), status: 'failed', error: 'boom' }, new Set(['join']));
    expect(state.done.size).toBe(0);
    expect(state.track.get('a')).toEqual(new Map([['w:join', 'failed'], ['t:join', '5'], ['r:join', '1']]));
  });

  test("compensations get their own done name; verdicts set the tracker's outcome", () => {
    const state = emptyState();
    collectState(state, { ...ok('a', 1, 'ledger'), kind: 'compensation' }, new Set());
    collectState(state, { ...base, kind: 'event', eventId: 'a', seq: 1, status: 'failed', failed: ['notify'] }, new Set());
    expect(state.done.get('ledger.compensate')).toEqual(new Set(['a']));
    expect(state.track.get('a')).toEqual(new Map([['c:ledger', 'ok'], ['e:ledger', '1'], ['o', 'failed']]));
  });
});
