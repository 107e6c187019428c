/**
 * Traces through @opentelemetry/api: one span per destination write attempt, parented on
 * the W3C `traceparent` the record carries (router copies keep the source record's), and the
 * span's own traceparent handed on to the next step, so a trace runs source -> step 1 ->
 * step 2 ... across processes.
 *
 * Exporting is off unless the standard OTEL_* variables ask for it (`OTEL_TRACES_EXPORTER`,
 * or an `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`). Off, the API is a no-op: spans cost nothing
 * and records carry the incoming traceparent unchanged.
 */
import { SpanKind, SpanStatusCode, ROOT_CONTEXT, context, propagation, trace, TraceFlags, type Context, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { InvalidInputError } from '../errors.js';
import type { Logger } from './logger.js';

export const TRACER_NAME = 'flowyard';

// ---- configuration (pure) ----------------------------------------------------------------

export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

export interface TracingConfig {
  readonly exporters: readonly ('otlp' | 'console')[];
  readonly sampler: SamplerName;
  /** For the `*traceidratio` samplers, 0..1. */
  readonly ratio: number;
}

/**
 * What the OTEL_* variables ask for, or undefined when tracing stays off (the default).
 * A value flowyard cannot honour is an InvalidInputError naming the variable (exit 2).
 */
export function tracingConfig(env: Readonly<Record<string, string | undefined>>): TracingConfig | undefined {
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  if (value('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const requested = value('OTEL_TRACES_EXPORTER');
  let exporters: ('otlp' | 'console')[];
  if (requested === undefined) {
    // The spec's default exporter is otlp; flowyard exports only when an endpoint says where.
    if (value('OTEL_EXPORTER_OTLP_ENDPOINT') === undefined && value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') === undefined) return undefined;
    exporters = ['otlp'];
  } else {
    const names = [...new Set(requested.split(',').map((n) => n.trim().toLowerCase()).filter(Boolean))];
    const unknown = names.filter((n) => n !== 'otlp' && n !== 'console' && n !== 'none');
    if (unknown.length > 0) throw new InvalidInputError(`OTEL_TRACES_EXPORTER: unsupported exporter(s) ${unknown.join(', ')}; expected otlp, console or none`);
    exporters = names.filter((n): n is 'otlp' | 'console' => n !== 'none');
    if (exporters.length === 0) return undefined;
  }
  if (exporters.includes('otlp')) {
    for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
      const protocol = value(name);
      if (protocol !== undefined && protocol !== 'http/protobuf') throw new InvalidInputError(`${name}=${protocol}: flowyard exports traces over http/protobuf only`);
    }
  }
  const samplerName = (value('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  if (!SAMPLERS.includes(samplerName as SamplerName)) throw new InvalidInputError(`OTEL_TRACES_SAMPLER=${samplerName}: expected one of ${SAMPLERS.join(', ')}`);
  const sampler = samplerName as SamplerName;
  const arg = value('OTEL_TRACES_SAMPLER_ARG');
  let ratio = 1;
  if (sampler.endsWith('traceidratio') && arg !== undefined) {
    ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new InvalidInputError(`OTEL_TRACES_SAMPLER_ARG=${arg}: expected a ratio between 0 and 1`);
  }
  return { exporters, sampler, ratio };
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.ratio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

// ---- W3C traceparent (pure) ----------------------------------------------------------------

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The remote span context a `traceparent` header names, or undefined when it is not a valid one. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value);
  if (match === null) return undefined;
  const [, traceId, spanId, flags] = match;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) & TraceFlags.SAMPLED, isRemote: true };
}

export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** The context to start a span in, continuing the trace of `traceparent` (a new trace when it is missing or invalid). */
export function contextOf(traceparent: string | undefined): Context {
  const parent = parseTraceparent(traceparent);
  return parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
}

// ---- spans -------------------------------------------------------------------------------

export interface WriteSpanInfo {
  readonly destination: string;
  readonly plan: string;
  readonly eventId: string;
  readonly attempt: number;
  /** The traceparent of the record being written. */
  readonly traceparent: string;
}

/**
 * Runs one destination write in a span `flowyard.write <destination>`, a child of the
 * record's traceparent; a failed write marks the span as an error and is rethrown.
 * `write` gets, and the call resolves with, the span's traceparent: what the written
 * record and the next step's record carry.
 */
export async function traceWrite(info: WriteSpanInfo, write: (traceparent: string) => Promise<void>): Promise<string> {
  const tracer = trace.getTracer(TRACER_NAME);
  const span = tracer.startSpan(
    `flowyard.write ${info.destination}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'flowyard.destination': info.destination,
        'flowyard.plan': info.plan,
        'flowyard.event_id': info.eventId,
        'flowyard.attempt': info.attempt,
      },
    },
    contextOf(info.traceparent),
  );
  const own = span.spanContext();
  // Tracing off: the no-op span has no ids of its own; the record's trace goes on as it was.
  const traceparent = trace.isSpanContextValid(own) ? formatTraceparent(own) : info.traceparent;
  try {
    // Active inside the write, so a sink's own instrumentation (HTTP, pg) nests under it.
    await context.with(trace.setSpan(context.active(), span), () => write(traceparent));
    span.setStatus({ code: SpanStatusCode.OK });
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
  return traceparent;
}

// ---- process setup -----------------------------------------------------------------------

export interface Tracing {
  /** Exports the spans still buffered and stops the provider. */
  shutdown(): Promise<void>;
}

/**
 * Registers the global tracer provider as the OTEL_* variables ask (see `tracingConfig`);
 * undefined when tracing stays off. Call once, before the roles start.
 */
export function startTracing(env: Readonly<Record<string, string | undefined>>, logger: Logger): Tracing | undefined {
  const config = tracingConfig(env);
  if (config === undefined) return undefined;
  const exporters: SpanExporter[] = config.exporters.map((name) => (name === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter()));
  const resource = resourceFromAttributes({ 'service.name': 'flowyard' }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    sampler: samplerOf(config),
    spanProcessors: exporters.map((exporter) => new BatchSpanProcessor({ exporter })),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  logger.info({ exporters: config.exporters, sampler: config.sampler, ratio: config.ratio }, 'tracing on');
  return {
    async shutdown() {
      try {
        await provider.shutdown();
      } catch (err) {
        logger.warn({ err }, 'flushing traces at shutdown failed; the last spans may be missing');
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}
