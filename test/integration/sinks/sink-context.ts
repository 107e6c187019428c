/**
 * What the sink integration tests share: a SinkContext as a worker would pass it, records
 * shaped as the router sends them, and a signal that aborts with the worker's TimeoutError.
 */
import type { SinkContext } from '../../../src/sinks/define.js';
import type { SinkRecord } from '../../../src/sinks/sink.js';
import { TimeoutError } from '../../../src/resilience/error-class.js';
import { testEnv, testKafka, testLogger, uniqueName } from '../../helpers/servers.js';

/** Not used by the http, redis and postgres sinks; the port's clients connect when used, so building it costs no I/O. */
const kafka = await testKafka('sink-test');

export function sinkContext(overrides: Partial<SinkContext> = {}): SinkContext {
  return {
    destination: uniqueName('dest'),
    concurrency: 4,
    timeoutMs: 5_000,
    kafka,
    env: testEnv(),
    logger: testLogger(),
    ...overrides,
  };
}

/** A record as the worker hands it to a sink: JSON value bytes, flowyard headers, decoded payload. */
export function sinkRecord(payload: Record<string, unknown>, eventId = uniqueName('evt'), key = 'customer-1'): SinkRecord {
  const value = Buffer.from(JSON.stringify(payload));
  return {
    eventId,
    key,
    value,
    headers: {
      'fy-event-id': eventId,
      'fy-key': key,
      'fy-ingested-at': '1714564800000',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    },
    payload,
  };
}

/** A signal that never aborts. */
export function noTimeout(): AbortSignal {
  return new AbortController().signal;
}

/** Aborts after `ms` with the TimeoutError the worker uses, so the test sees what the worker would. */
export function timeoutAfter(ms: number): { signal: AbortSignal; reason: TimeoutError } {
  const controller = new AbortController();
  const reason = new TimeoutError(ms);
  setTimeout(() => controller.abort(reason), ms).unref();
  return { signal: controller.signal, reason };
}

/** The rejection of `promise`, failing the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
