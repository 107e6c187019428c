/**
 * The transactional kafka worker's transactional ids: one per input partition (no KIP-447),
 * a fresh one per member producer otherwise.
 */
import { memberTransactionalId, partitionTransactionalId } from '../../../src/runtime/transactional-ids.js';

test('a partition id names group, input topic and partition', () => {
  expect(partitionTransactionalId('shop.ledger', 'shop.fanout.ledger', 3)).toBe('shop.ledger/shop.fanout.ledger/3');
});

test('a member id names group and input topic, and differs per producer opened', () => {
  expect(memberTransactionalId('shop.ledger', 'shop.fanout.ledger', '0b5e')).toBe('shop.ledger/shop.fanout.ledger/0b5e');
  const [a, b] = [memberTransactionalId('g', 't'), memberTransactionalId('g', 't')];
  expect(a).toMatch(/^g\/t\/[0-9a-f-]{36}$/);
  expect(a).not.toBe(b);
});
