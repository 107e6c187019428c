/** Requests stay under the broker's message.max.bytes: a router batch of 1 MiB copied to 3 topics must not become one refused request. */
import { MAX_REQUEST_BYTES, chunkByBytes } from '../../../src/kafka/kafkajs/producer.js';

const record = (bytes: number, n: number) => ({ key: `k${n}`, value: Buffer.alloc(bytes, n % 256) });

test('splits records into requests of at most MAX_REQUEST_BYTES, keeping every record once and in order', () => {
  const byTopic = new Map([
    ['a', Array.from({ length: 1_500 }, (_, n) => record(1_024, n))],
    ['b', Array.from({ length: 1_500 }, (_, n) => record(1_024, n))],
  ]);
  const chunks = chunkByBytes(byTopic);
  expect(chunks.length).toBeGreaterThan(5);
  for (const chunk of chunks) {
    const bytes = chunk.flatMap((t) => t.messages).reduce((sum, m) => sum + (m.value as Buffer).length, 0);
    expect(bytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
  }
  for (const topic of ['a', 'b']) {
    const keys = chunks.flatMap((chunk) => chunk.filter((t) => t.topic === topic).flatMap((t) => t.messages.map((m) => m.key)));
    expect(keys).toEqual(Array.from({ length: 1_500 }, (_, n) => `k${n}`));
  }
});

test('a record larger than the limit goes alone; small sends stay one request', () => {
  expect(chunkByBytes(new Map([['a', [record(10, 1), record(MAX_REQUEST_BYTES * 2, 2), record(10, 3)]]])).map((c) => c[0]!.messages.length)).toEqual([1, 1, 1]);
  expect(chunkByBytes(new Map([['a', [record(10, 1)]], ['b', [record(10, 2)]]]))).toHaveLength(1);
  expect(chunkByBytes(new Map())).toEqual([]);
});
