/**
 * Proves what flowyard keeps of records that kcat wrote with keys and headers flowyard did not
 * set, on the real broker, through router and two cascade workers into real `kafka` sinks:
 * a null Kafka key is fine (the causal key comes from the value), values reach the sink
 * byte-exact (non-ASCII UTF-8 included), the producer's own headers (a repeated name too)
 * arrive on the sink records of both steps, a forged `fy-event-id` loses to flowyard's own,
 * the producer's trace continues, and a binary (non-UTF-8) value a JSON source cannot decode
 * is dead-lettered with its exact bytes and headers, never dropped.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { TestPipeline } from '../../helpers/pipeline.js';
import { kcatProduce, kcatProduceFiles } from '../../helpers/outside-producers.js';
import { eventually, uniqueName } from '../../helpers/servers.js';
import { outsideKafka } from '../../helpers/outside-kafka.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

test('null keys, byte-exact values, foreign headers and binary values from kcat, through two cascade steps to kafka sinks and the DLQ', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 2
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
`);
  const sinkTopics = [`${pipeline.runId}.ledger`, `${pipeline.runId}.notify`];
  const received = new Map<string, KafkaMessage[]>();
  // A downstream system's own kafkajs consumer, seeing the headers as any Kafka client gets them.
  const reader = outsideKafka('foreign-read').consumer({ groupId: uniqueName('it-foreign-read') });
  try {
    await pipeline.startWith(['router', 'worker']);
    await reader.connect();
    await reader.subscribe({ topics: sinkTopics, fromBeginning: true });
    await reader.run({ eachMessage: async ({ topic, message }) => void received.set(topic, [...(received.get(topic) ?? []), message]) });

    const id = `${pipeline.runId}-zurich`;
    const value = JSON.stringify({ eventId: id, customerId: 'c-1', city: 'Zürich ✓' });
    await kcatProduce(pipeline.plan.source.topics[0]!, [value], {
      codec: 'zstd',
      headers: [
        ['x-tenant', 'acme'],
        ['fy-event-id', 'forged'],
        ['traceparent', `00-${TRACE_ID}-00f067aa0ba902b7-01`],
      ],
    });
    // kcat -H with a repeated name writes both values.
    const repeated = JSON.stringify({ eventId: `${pipeline.runId}-repeat`, customerId: 'c-2' });
    await kcatProduce(pipeline.plan.source.topics[0]!, [repeated], {
      codec: 'none',
      headers: [
        ['x-tag', 'first'],
        ['x-tag', 'second'],
      ],
    });

    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x7b, 0x22]); // not UTF-8, not JSON
    const dir = mkdtempSync(join(tmpdir(), 'flowyard-binary-'));
    writeFileSync(join(dir, 'value.bin'), binary);
    await kcatProduceFiles(pipeline.plan.source.topics[0]!, [join(dir, 'value.bin')], { codec: 'lz4', headers: [['x-tenant', 'binary-co']] });

    const arrived = () => sinkTopics.every((t) => (received.get(t) ?? []).length >= 2) && pipeline.deadLetters.length >= 1;
    expect(await eventually(arrived, 90_000, 200)).toBe(true);

    for (const topic of sinkTopics) {
      const zurich = received.get(topic)!.find((m) => m.headers?.['fy-event-id']?.toString() === id)!;
      expect({ topic, found: zurich !== undefined }).toEqual({ topic, found: true });
      expect(zurich.value).toEqual(Buffer.from(value)); // byte-exact, UTF-8 as sent
      expect(zurich.key?.toString()).toBe('c-1'); // the causal key from the value; kcat sent a null key
      expect(zurich.headers?.['x-tenant']?.toString()).toBe('acme');
      expect(zurich.headers?.['traceparent']?.toString()).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
      const tagged = received.get(topic)!.find((m) => m.headers?.['fy-event-id']?.toString() === `${pipeline.runId}-repeat`)!;
      expect((tagged.headers?.['x-tag'] as Buffer[] | undefined)?.map(String)).toEqual(['first', 'second']);
      expect(tagged.key?.toString()).toBe('c-2');
    }

    const [dead] = pipeline.deadLetters;
    expect(dead!.value).toEqual(binary);
    expect(dead!.headers['fy-error-class']).toBe('invalid');
    expect(dead!.headers['x-tenant']).toBe('binary-co');
    expect(dead!.key).toBeNull();
  } finally {
    await reader.disconnect();
    await pipeline.close();
  }
});
