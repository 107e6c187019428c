import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { InvalidInputError } from '../../../src/errors.js';
import { formatTraceparent, parseTraceparent, traceWrite, tracingConfig } from '../../../src/observability/tracing.js';

const SOURCE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracingConfig', () => {
  test('off by default, and when the SDK is disabled or the exporter is none', () => {
    expect(tracingConfig({})).toBeUndefined();
    expect(tracingConfig({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBeUndefined();
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBeUndefined();
  });

  test('an OTLP endpoint or an explicit exporter turns it on', () => {
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({ exporters: ['otlp'], sampler: 'parentbased_always_on', ratio: 1 });
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })?.exporters).toEqual(['otlp']);
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'otlp, console' })?.exporters).toEqual(['otlp', 'console']);
  });

  test('samplers and their ratio', () => {
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toEqual({
      exporters: ['console'],
      sampler: 'parentbased_traceidratio',
      ratio: 0.25,
    });
  });

  test.each([
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER: unsupported exporter(s) zipkin'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL=grpc'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json'],
    [{ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER=sometimes'],
    [{ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, 'OTEL_TRACES_SAMPLER_ARG=2'],
  ])('%j is refused, naming the variable', (env, message) => {
    expect(() => tracingConfig(env)).toThrow(InvalidInputError);
    expect(() => tracingConfig(env)).toThrow(message);
  });
});

describe('traceparent', () => {
  test('parses and formats W3C version 00', () => {
    const parsed = parseTraceparent(SOURCE);
    expect(parsed).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
    expect(formatTraceparent(parsed!)).toBe(SOURCE);
    expect(formatTraceparent({ ...parsed!, traceFlags: 0 })).toBe(SOURCE.replace(/01$/, '00'));
  });

  test.each([undefined, '', 'garbage', '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, `00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`])(
    'rejects %j',
    (value) => expect(parseTraceparent(value)).toBeUndefined(),
  );
});

describe('traceWrite', () => {
  const info = { destination: 'ledger', plan: 'shop@abc', eventId: 'e-1', attempt: 2, traceparent: SOURCE };

  test('tracing off: the write runs and the record keeps its traceparent', async () => {
    let seen: string | undefined;
    const carried = await traceWrite(info, async (traceparent) => {
      seen = traceparent;
    });
    expect(carried).toBe(SOURCE);
    expect(seen).toBe(SOURCE);
  });

  describe('tracing on', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    beforeAll(() => trace.setGlobalTracerProvider(provider));
    afterAll(async () => {
      await provider.shutdown();
      trace.disable();
    });
    beforeEach(() => exporter.reset());

    test('a child span of the record, with destination, plan, event id and attempt; the write and the next step carry its traceparent', async () => {
      let seen: string | undefined;
      const carried = await traceWrite(info, async (traceparent) => {
        seen = traceparent;
      });
      const [span] = exporter.getFinishedSpans();
      expect(span?.name).toBe('flowyard.write ledger');
      expect(span?.kind).toBe(SpanKind.CLIENT);
      expect(span?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      expect(span?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
      expect(span?.attributes).toEqual({ 'flowyard.destination': 'ledger', 'flowyard.plan': 'shop@abc', 'flowyard.event_id': 'e-1', 'flowyard.attempt': 2 });
      expect(span?.status.code).toBe(SpanStatusCode.OK);
      expect(carried).toBe(`00-0af7651916cd43dd8448eb211c80319c-${span!.spanContext().spanId}-01`);
      expect(seen).toBe(carried);
    });

    test('a failed write ends its span with status error and the exception, and is rethrown', async () => {
      await expect(
        traceWrite(info, async () => {
          throw new Error('503 from the ledger');
        }),
      ).rejects.toThrow('503 from the ledger');
      const [span] = exporter.getFinishedSpans();
      expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: '503 from the ledger' });
      expect(span?.events.map((e) => e.name)).toEqual(['exception']);
    });

    test('a record without a valid traceparent starts a new trace', async () => {
      const carried = await traceWrite({ ...info, traceparent: 'not-a-traceparent' }, async () => undefined);
      const [span] = exporter.getFinishedSpans();
      expect(span?.parentSpanContext).toBeUndefined();
      expect(parseTraceparent(carried)?.traceId).toBe(span?.spanContext().traceId);
    });
  });
});
