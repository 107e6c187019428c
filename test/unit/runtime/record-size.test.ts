import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, TRUNCATED_VALUE_BYTES, TopicLimits, oversizeReason, truncatedOrigin } from '../../../src/runtime/record-size.js';

const consumed = (value: Buffer | null): ConsumedRecord => ({ topic: 't', partition: 3, offset: '42', key: Buffer.from('k'), value, headers: { [HEADER.eventId]: 'e1' }, timestamp: 0 });

describe('truncatedOrigin', () => {
  test('keeps a small record as it is', () => {
    const record = consumed(Buffer.alloc(100));
    expect(truncatedOrigin(record)).toBe(record);
  });

  test('cuts a large value to the bound and says how long it was; the origin fields stay', () => {
    const cut = truncatedOrigin(consumed(Buffer.alloc(2 * 1024 * 1024, 7)));
    expect(cut.value?.length).toBe(TRUNCATED_VALUE_BYTES);
    expect(cut.headers[HEADER.truncated]).toBe(String(2 * 1024 * 1024));
    expect(cut.headers[HEADER.eventId]).toBe('e1');
    expect([cut.topic, cut.partition, cut.offset]).toEqual(['t', 3, '42']);
  });

  test('takes a smaller bound when the dead-letter topic needs it', () => {
    expect(truncatedOrigin(consumed(Buffer.alloc(5000)), 1000).value?.length).toBe(1000);
  });
});

describe('TopicLimits', () => {
  const limits = new TopicLimits(new Map([['small', 1_000]]));

  test('measures a record against its topic, an unknown topic at the broker default', () => {
    expect(limits.oversizeOf('small', { key: 'k', value: Buffer.alloc(500) })).toBeUndefined();
    const over = limits.oversizeOf('small', { key: 'k', value: Buffer.alloc(2_000) });
    expect(over).toEqual({ topic: 'small', bytes: expect.any(Number), limit: 1_000 });
    expect(over!.bytes).toBeGreaterThan(2_000);
    expect(limits.limitOf('other')).toBe(BROKER_DEFAULT_MAX_MESSAGE_BYTES);
    expect(limits.oversizeOf('other', { key: 'k', value: Buffer.alloc(2_000) })).toBeUndefined();
  });

  test('the reason names what, its size, the topic and its limit, and the fix', () => {
    expect(oversizeReason('the hand-on copy to destination b', { topic: 'o.cascade.b', bytes: 2_048, limit: 1_024 })).toBe(
      'the hand-on copy to destination b is 2048 bytes, more than topic o.cascade.b allows (max.message.bytes 1024); raise max.message.bytes of o.cascade.b or make the event smaller',
    );
  });
});
