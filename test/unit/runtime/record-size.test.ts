import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { tooLargeError } from '../../../src/runtime/kafka-tx-worker.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { TRUNCATED_VALUE_BYTES, recordSize, truncatedOrigin } from '../../../src/runtime/record-size.js';

const consumed = (value: Buffer | null): ConsumedRecord => ({ topic: 't', partition: 3, offset: '42', key: Buffer.from('k'), value, headers: { [HEADER.eventId]: 'e1' }, timestamp: 0 });

describe('recordSize', () => {
  test('counts key, value and every header name and value, plus the batch overhead', () => {
    const bare = recordSize({ key: null, value: null });
    expect(recordSize({ key: 'kk', value: Buffer.alloc(1000) })).toBe(bare + 1002);
    const withHeader = recordSize({ key: null, value: null, headers: { ab: 'héllo' } });
    expect(withHeader - bare).toBeGreaterThanOrEqual(2 + Buffer.byteLength('héllo'));
  });

  test('is never below the bytes a one-record batch really needs (61 bytes of batch header)', () => {
    expect(recordSize({ key: null, value: Buffer.alloc(10) })).toBeGreaterThan(61 + 10);
  });
});

describe('truncatedOrigin', () => {
  test('keeps a small record as it is', () => {
    const record = consumed(Buffer.alloc(100));
    expect(truncatedOrigin(record)).toBe(record);
  });

  test('cuts a large value to the bound and says how long it was; the origin fields stay', () => {
    const cut = truncatedOrigin(consumed(Buffer.alloc(2 * 1024 * 1024, 7)));
    expect(cut.value?.length).toBe(TRUNCATED_VALUE_BYTES);
    expect(cut.headers[HEADER.originalBytes]).toBe(String(2 * 1024 * 1024));
    expect(cut.headers[HEADER.eventId]).toBe('e1');
    expect([cut.topic, cut.partition, cut.offset]).toEqual(['t', 3, '42']);
  });

  test('takes a smaller bound when the dead-letter topic needs it', () => {
    expect(truncatedOrigin(consumed(Buffer.alloc(5000)), 1000).value?.length).toBe(1000);
  });
});

describe('tooLargeError', () => {
  test('finds the kafkajs type on the error or anything it wraps', () => {
    expect(tooLargeError({ type: 'MESSAGE_TOO_LARGE' })).toBe('MESSAGE_TOO_LARGE');
    expect(tooLargeError({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { type: 'RECORD_LIST_TOO_LARGE' } })).toBe('RECORD_LIST_TOO_LARGE');
    expect(tooLargeError({ errors: [{ type: 'NOT_LEADER_FOR_PARTITION' }, { originalError: { type: 'MESSAGE_TOO_LARGE' } }] })).toBe('MESSAGE_TOO_LARGE');
  });

  test('is undefined for every other error, including ones that wrap themselves', () => {
    const loop: { cause?: unknown; type: string } = { type: 'INVALID_PRODUCER_EPOCH' };
    loop.cause = loop;
    expect(tooLargeError(loop)).toBeUndefined();
    expect(tooLargeError(new Error('MESSAGE_TOO_LARGE in the text is not the type'))).toBeUndefined();
    expect(tooLargeError(undefined)).toBeUndefined();
  });
});
