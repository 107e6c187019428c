import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { TRUNCATED_VALUE_BYTES, truncatedOrigin } from '../../../src/runtime/record-size.js';

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
