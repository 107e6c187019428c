import { assignBySubscription } from '../../../src/kafka/assignment.js';

describe('assignBySubscription', () => {
  test('a topic goes only to the members that subscribed to it', () => {
    const assignment = assignBySubscription(
      [
        { memberId: 'old-worker', topics: ['o.cascade.ledger'] },
        { memberId: 'new-worker', topics: ['o.fanout.ledger'] },
      ],
      { 'o.cascade.ledger': [0, 1, 2], 'o.fanout.ledger': [0, 1, 2] },
    );
    expect(assignment).toEqual({ 'old-worker': { 'o.cascade.ledger': [0, 1, 2] }, 'new-worker': { 'o.fanout.ledger': [0, 1, 2] } });
  });

  test('members sharing a topic split it round-robin, every partition exactly once', () => {
    const assignment = assignBySubscription(
      [
        { memberId: 'b', topics: ['t'] },
        { memberId: 'a', topics: ['t'] },
      ],
      { t: [3, 0, 2, 1] },
    );
    expect(assignment).toEqual({ a: { t: [0, 2] }, b: { t: [1, 3] } });
  });

  test('a member reading nothing assignable gets an empty assignment, not an error', () => {
    expect(assignBySubscription([{ memberId: 'a', topics: ['missing'] }], {})).toEqual({ a: {} });
  });

  test('small topics are spread over the members instead of all landing on the first', () => {
    const assignment = assignBySubscription(
      [
        { memberId: 'a', topics: ['x', 'y'] },
        { memberId: 'b', topics: ['x', 'y'] },
      ],
      { x: [0], y: [0] },
    );
    expect(assignment).toEqual({ a: { x: [0] }, b: { y: [0] } });
  });

  test('the same input gives the same assignment whatever the member order', () => {
    const members = [
      { memberId: 'm1', topics: ['t', 'u'] },
      { memberId: 'm2', topics: ['t'] },
      { memberId: 'm3', topics: ['u'] },
    ];
    const partitions = { t: [0, 1, 2, 3, 4], u: [0, 1, 2] };
    expect(assignBySubscription([...members].reverse(), partitions)).toEqual(assignBySubscription(members, partitions));
  });
});
