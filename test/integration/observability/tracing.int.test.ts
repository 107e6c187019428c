/**
 * W3C trace context through router -> worker -> next step on the real broker and Redis: in a
 * cascade of two destinations, each write is a span of the source record's trace; step 1's
 * span is a child of the source's traceparent, the record it hands on carries step 1's span as
 * parent, and step 2's span is that span's child. A failed attempt is its own span, marked as
 * an error, and the hand-on continues from the attempt that succeeded. Spans are collected in
 * memory; Kafka and Redis are real.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Tail } from '../../../src/kafka/port.js';
import type { ConsumedRecord } from '../../../src/kafka/records.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { parseTraceparent } from '../../../src/observability/tracing.js';
import { SinkError } from '../../../src/sinks/sink.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
});

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

test('a cascade of two: both write spans belong to the source trace, and step 2 descends from step 1 through the intermediate record', async () => {
  const pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: cascade
partitions: 2
destinations:
  - { name: s1, sink: { type: kafka, topic: '{name}.s1' }, retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 } }
  - { name: s2, sink: { type: kafka, topic: '{name}.s2' } }
`);
  const intermediate: ConsumedRecord[] = [];
  let tail: Tail | undefined;
  try {
    const step2Input = pipeline.plan.destinations.find((d) => d.name === 's2')!.inputTopic;
    tail = await pipeline.shared.kafka.tail([step2Input], (record) => intermediate.push(record));
    const { records, eventIds } = pipeline.samples(30, 6);
    // Each source record is the child of span 0x1000+i in trace 0xabc0...i; the last two arrive without a traceparent.
    const sources = new Map<string, string>();
    const traced = records.map((record, i) => {
      if (i >= records.length - 2) return record;
      const traceparent = `00-${hex(0xabc0, 4)}${hex(i + 1, 28)}-${hex(0x1000 + i, 16)}-01`;
      sources.set(eventIds[i]!, traceparent);
      return { ...record, headers: { ...record.headers, [HEADER.traceparent]: traceparent } };
    });
    const flaky = eventIds[3]!;
    pipeline.behaviours.set('s1', (record, attempt) => {
      if (record.eventId === flaky && attempt === 1) throw new SinkError('s1 busy', 'retriable');
    });
    await pipeline.start(['router', 'worker']);
    await pipeline.produce(traced);
    expect(await eventually(() => pipeline.finished('s2') === eventIds.length, 120_000, 200)).toBe(true);
    expect(await eventually(() => intermediate.length >= eventIds.length, 30_000)).toBe(true);

    const spans = exporter.getFinishedSpans();
    const writes = (destination: string, eventId: string): ReadableSpan[] =>
      spans.filter((s) => s.name === `flowyard.write ${destination}` && s.attributes['flowyard.event_id'] === eventId);
    const problems: string[] = [];
    for (const eventId of eventIds) {
      const s1 = writes('s1', eventId);
      const s2 = writes('s2', eventId);
      const handedOn = intermediate.filter((r) => r.headers[HEADER.eventId] === eventId);
      if (s2.length !== 1 || handedOn.length !== 1 || s1.length !== (eventId === flaky ? 2 : 1)) {
        problems.push(`${eventId}: ${s1.length} s1 spans, ${s2.length} s2 spans, ${handedOn.length} intermediate records`);
        continue;
      }
      const ok = s1.find((s) => s.status.code === SpanStatusCode.OK)!;
      const carried = parseTraceparent(handedOn[0]!.headers[HEADER.traceparent]);
      const source = parseTraceparent(sources.get(eventId));
      // The router starts a trace for a record without one; then step 1's parent is the router's.
      const traceId = source?.traceId ?? ok.spanContext().traceId;
      const checks: [string, boolean][] = [
        ['s1 spans in the source trace', s1.every((s) => s.spanContext().traceId === traceId)],
        ['s1 spans children of the source traceparent', source === undefined || s1.every((s) => s.parentSpanContext?.spanId === source.spanId)],
        ['intermediate record in the same trace', carried?.traceId === traceId],
        ["intermediate record's parent is s1's successful write span", carried?.spanId === ok.spanContext().spanId],
        ['s2 span in the same trace', s2[0]!.spanContext().traceId === traceId],
        ["s2 span is the child of s1's write span", s2[0]!.parentSpanContext?.spanId === ok.spanContext().spanId],
        ['attributes', s2[0]!.attributes['flowyard.destination'] === 's2' && s2[0]!.attributes['flowyard.plan'] === pipeline.plan.id && s2[0]!.attributes['flowyard.attempt'] === 1],
      ];
      for (const [what, passed] of checks) if (!passed) problems.push(`${eventId}: ${what}`);
    }
    expect(problems).toEqual([]);
    // The failed attempt is a span of its own, an error, in the same trace.
    const [failed, succeeded] = writes('s1', flaky).sort((a, b) => Number(a.attributes['flowyard.attempt']) - Number(b.attributes['flowyard.attempt']));
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 's1 busy' });
    expect(failed?.attributes['flowyard.attempt']).toBe(1);
    expect(succeeded?.status.code).toBe(SpanStatusCode.OK);
    expect(succeeded?.attributes['flowyard.attempt']).toBe(2);
  } finally {
    await tail?.stop();
    await pipeline.close();
  }
});
