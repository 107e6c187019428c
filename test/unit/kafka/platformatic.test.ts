/**
 * The pure parts of the KAFKA_CLIENT=platformatic backend: which fetched records a
 * read_committed consumer hands over (aborted transactions dropped also when the fetch ends
 * before the abort marker, what the markers cover), Java's key partitioning, the outgoing
 * header mapping, and what classify makes of the library's errors. No broker.
 */
import { IS_CONTROL, IS_TRANSACTIONAL, MultipleErrors, NetworkError, ProtocolError, UserError, type fetchV17, type KafkaRecord, type RecordsBatch } from '@platformatic/kafka';
import { InvalidInputError } from '../../../src/errors.js';
import { classify } from '../../../src/kafka/platformatic/connection.js';
import { javaCompatiblePartitioner, partitionRecords, toMessages } from '../../../src/kafka/platformatic/records.js';

function record(offsetDelta: number, value: string): KafkaRecord {
  return { length: 0, attributes: 0, timestampDelta: 0n, offsetDelta, key: null, value: Buffer.from(value), headers: [] };
}

function batch(firstOffset: bigint, records: KafkaRecord[], options: { producerId?: bigint; transactional?: boolean } = {}): RecordsBatch {
  return {
    firstOffset,
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: options.transactional ? IS_TRANSACTIONAL : 0,
    lastOffsetDelta: records.length - 1,
    firstTimestamp: 1_700_000_000_000n,
    maxTimestamp: 0n,
    producerId: options.producerId ?? -1n,
    producerEpoch: 0,
    firstSequence: 0,
    records,
  };
}

/** A transaction marker: a control batch whose record key holds version 0 and type 0 (abort) or 1 (commit). */
function marker(offset: bigint, producerId: bigint, commit: boolean): RecordsBatch {
  const key = Buffer.alloc(4);
  key.writeInt16BE(commit ? 1 : 0, 2);
  return { ...batch(offset, [{ ...record(0, ''), key }], { producerId, transactional: true }), attributes: IS_CONTROL | IS_TRANSACTIONAL };
}

function partition(records: RecordsBatch[], aborted: { producerId: bigint; firstOffset: bigint }[] = []): fetchV17.FetchResponsePartition {
  return { partitionIndex: 0, errorCode: 0, highWatermark: 0n, lastStableOffset: 0n, logStartOffset: 0n, abortedTransactions: aborted, preferredReadReplica: -1, records };
}

const values = (fetch: ReturnType<typeof partitionRecords>) => fetch.records.map((r) => `${r.offset}:${r.value!.toString()}`);

test('committed transactional records are handed over; the markers only move the last covered offset', () => {
  const fetch = partitionRecords('t', partition([batch(0n, [record(0, 'a'), record(1, 'b')], { producerId: 7n, transactional: true }), marker(2n, 7n, true)]), 0n);
  expect(values(fetch)).toEqual(['0:a', '1:b']);
  expect(fetch.lastOffset).toBe(2n);
});

test('an aborted transaction is dropped up to its abort marker, other producers in between are kept', () => {
  const fetch = partitionRecords(
    't',
    partition(
      [
        batch(0n, [record(0, 'aborted-1')], { producerId: 7n, transactional: true }),
        batch(1n, [record(0, 'other')], { producerId: 8n, transactional: true }),
        batch(2n, [record(0, 'aborted-2')], { producerId: 7n, transactional: true }),
        marker(3n, 7n, false),
        marker(4n, 8n, true),
        batch(5n, [record(0, 'after')], { producerId: 7n, transactional: true }),
        marker(6n, 7n, true),
      ],
      [{ producerId: 7n, firstOffset: 0n }],
    ),
    0n,
  );
  expect(values(fetch)).toEqual(['1:other', '5:after']);
  expect(fetch.lastOffset).toBe(6n);
});

test('a fetch cut off before the abort marker hands over none of the aborted records', () => {
  const fetch = partitionRecords('t', partition([batch(10n, [record(0, 'x'), record(1, 'y')], { producerId: 7n, transactional: true })], [{ producerId: 7n, firstOffset: 10n }]), 10n);
  expect(fetch.records).toEqual([]);
  expect(fetch.lastOffset).toBe(11n);
});

test('records before the fetch position (a compressed batch comes whole) are not handed over again', () => {
  const fetch = partitionRecords('t', partition([batch(0n, [record(0, 'a'), record(1, 'b'), record(2, 'c')])]), 2n);
  expect(values(fetch)).toEqual(['2:c']);
  expect(partitionRecords('t', partition([]), 5n).lastOffset).toBeUndefined();
});

test('consumed headers: flowyard headers as strings (last wins), other systems\' byte-exact and repeated', () => {
  const withHeaders: KafkaRecord = {
    ...record(0, 'v'),
    headers: [
      [Buffer.from('fy-event-id'), Buffer.from('e-1')],
      [Buffer.from('x-rep'), Buffer.from([0xff])],
      [Buffer.from('x-rep'), Buffer.from('second')],
    ],
  };
  const [consumed] = partitionRecords('t', partition([batch(0n, [withHeaders])]), 0n).records;
  expect(consumed!.headers['fy-event-id']).toBe('e-1');
  expect(consumed!.carriedHeaders).toEqual({ 'x-rep': [Buffer.from([0xff]), Buffer.from('second')] });
  expect(consumed!.timestamp).toBe(1_700_000_000_000);
});

test('keys are placed with Java\'s murmur2 made positive (UtilsTest values), keyless records spread', () => {
  // Kafka's UtilsTest.testMurmur2: "21" -> -973932308, "abc" -> 479470107.
  expect(javaCompatiblePartitioner({ topic: 't' }, Buffer.from('21'))).toBe(-973932308 & 0x7fffffff);
  expect(javaCompatiblePartitioner({ topic: 't' }, Buffer.from('abc'))).toBe(479470107);
  const keyless = new Set(Array.from({ length: 6 }, () => javaCompatiblePartitioner({ topic: 't' }, undefined) % 3));
  expect(keyless.size).toBe(3);
});

test('outgoing headers: shared flowyard headers, carried headers repeated and winning a name in both', () => {
  const shared = { 'fy-plan': 'p1', 'x-both': 'flowyard' };
  const [message] = toMessages([{ topic: 't', records: [{ key: 'k', value: null, headers: shared, carriedHeaders: { 'x-both': Buffer.from('carried'), 'x-rep': [Buffer.from('1'), Buffer.from('2')] } }] }]);
  const pairs = [...(message!.headers as Map<Buffer, Buffer>)].map(([name, value]) => `${name.toString()}=${value.toString()}`);
  expect(pairs).toEqual(['fy-plan=p1', 'x-both=carried', 'x-rep=1', 'x-rep=2']);
  expect(message!.key).toEqual(Buffer.from('k'));
  expect(message!.value).toBeUndefined();
});

test('classify: too large, retriable broker answers and network errors, the rest permanent', () => {
  expect(classify(new MultipleErrors('Producing messages failed.', [new ProtocolError('MESSAGE_TOO_LARGE')]))).toBe('too-large');
  expect(classify(new ProtocolError('NOT_LEADER_OR_FOLLOWER'))).toBe('retriable');
  expect(classify(new ProtocolError('CONCURRENT_TRANSACTIONS'))).toBe('retriable');
  expect(classify(new NetworkError('Connection closed'))).toBe('retriable');
  expect(classify(new UserError('Unknown topic t.'))).toBe('retriable');
  expect(classify(new ProtocolError('TOPIC_AUTHORIZATION_FAILED'))).toBe('permanent');
  expect(classify(new ProtocolError('INVALID_PRODUCER_EPOCH'))).toBe('permanent');
  expect(classify(new InvalidInputError('environment: KAFKA_SASL_PASSWORD: refused'))).toBe('permanent');
  expect(classify('not an error')).toBe('permanent');
});
