/**
 * The set-up the advise, trial and /metrics integration tests share: a fan-out over kafka
 * sinks a, b and c where c fails the calls a test picks, and the run's registry served by the
 * real ops HTTP server, its /metrics page parsed as `flowyard advise` and `trial` parse it.
 */
import type { Registry } from 'prom-client';
import { parsePrometheusText, type Sample } from '../../src/measure/prom-text.js';
import { startOpsServer } from '../../src/observability/http-server.js';
import { SinkError } from '../../src/sinks/sink.js';
import type { TestPipeline } from './pipeline.js';
import { testLogger } from './servers.js';

const RETRY = 'retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 }';
// The doomed events fail every attempt; a breaker that never opens keeps them from being held as an outage.
const BREAKER = 'circuitBreaker: { failureRatio: 1, minRequests: 100000, halfOpenAfterMs: 1000 }';

/**
 * A fan-out topology (3 partitions) to kafka sinks a, b and c with quick retries and a breaker
 * that never opens; `c` adds options to destination c, `extra` adds top-level lines.
 */
export function fanoutToABC(options: { readonly c?: string; readonly extra?: string } = {}): string {
  const c = options.c === undefined ? '' : `, ${options.c}`;
  return `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - { name: a, sink: { type: kafka, topic: '{name}.a' }, ${RETRY}, ${BREAKER} }
  - { name: b, sink: { type: kafka, topic: '{name}.b' }, ${RETRY}, ${BREAKER} }
  - { name: c, sink: { type: kafka, topic: '{name}.c' }, ${RETRY}, ${BREAKER}${c} }
${options.extra ?? ''}`;
}

/** Destination c refuses (retriably) the first call of each `flaky` event and every call of each `doomed` one. */
export function failAtC(pipeline: TestPipeline, flaky: ReadonlySet<string>, doomed: ReadonlySet<string> = new Set()): void {
  pipeline.behaviours.set('c', (record, attempt) => {
    if (doomed.has(record.eventId) || (flaky.has(record.eventId) && attempt === 1)) throw new SinkError(`c refused ${record.eventId}`, 'retriable');
  });
}

export interface MetricsEndpoint {
  /** `http://127.0.0.1:<port>/metrics`. */
  readonly url: string;
  /** The page as served. */
  text(): Promise<string>;
  /** The page's samples. */
  samples(): Promise<Sample[]>;
  close(): Promise<void>;
}

/** Serves `registry` on the ops HTTP server at a free port. */
export async function serveMetrics(registry: Registry): Promise<MetricsEndpoint> {
  const ops = await startOpsServer({ port: 0, registry, readiness: [], logger: testLogger() });
  const url = `http://127.0.0.1:${ops.port}/metrics`;
  const text = async (): Promise<string> => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.text();
  };
  return { url, text, samples: async () => parsePrometheusText(await text(), url), close: () => ops.close() };
}

