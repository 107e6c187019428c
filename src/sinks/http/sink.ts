/**
 * The `http` sink: one request per event through a keep-alive pool of at most `concurrency`
 * connections to the endpoint's origin. Idempotency is the receiver's part of the contract:
 * every attempt of an event carries the same `Idempotency-Key`, so a retry after a lost
 * response (the receiver did process it) is recognised there; flowyard's done-key in Redis
 * stops a redelivery that completed before it ever reaches this sink.
 */
import { STATUS_CODES } from 'node:http';
import { Pool } from 'undici';
import type { SinkConfig } from '../../topology/plan.js';
import type { SinkContext } from '../define.js';
import { redactUrl } from '../shared.js';
import { SinkError, type Sink, type SinkRecord } from '../sink.js';
import { DEFAULT_CONTENT_TYPE, DEFAULT_HTTP_METHOD, type HttpSinkConfig } from './config.js';
import { bodyExcerpt, classifyStatus, describeStatus, parseRetryAfter } from './status.js';

/** Bytes of an error response read for the excerpt; the rest is discarded unread. */
const EXCERPT_READ_BYTES = 1024;
/** An idle keep-alive connection is closed after this long (ms); receivers often close at 5 s. */
const KEEP_ALIVE_TIMEOUT_MS = 4_000;

/** Builds the `http` sink of a destination; the pool opens in start(), connections on the first writes. */
export function createHttpSink(config: SinkConfig, context: SinkContext): Sink {
  const { url, method = DEFAULT_HTTP_METHOD, headers = {} } = config as HttpSinkConfig;
  // Messages name the endpoint without its secrets (password, query values): they reach
  // logs, exceptions and the DLQ's fy-error header.
  const where = redactUrl(url);
  const target = parseUrl(url);
  const path = `${target.pathname}${target.search}`;
  const fixedHeaders = baseHeaders(headers);
  let pool: Pool | undefined;

  return {
    async start() {
      // One pool per sink: at most `concurrency` sockets to the origin, reused across events.
      // Connections open lazily, so a receiver that is down at start is a retriable write
      // failure later, not a startup error (it may come up before the first event).
      pool = new Pool(target.origin, { connections: context.concurrency, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS });
    },

    async write(record: SinkRecord, signal: AbortSignal) {
      if (pool === undefined) throw new Error('http sink written before start()');
      signal.throwIfAborted();
      const requestHeaders: Record<string, string> = { ...fixedHeaders, 'idempotency-key': record.eventId };
      const traceparent = record.headers.traceparent;
      if (traceparent !== undefined) requestHeaders.traceparent = traceparent;
      const tracestate = record.headers.tracestate;
      if (tracestate !== undefined) requestHeaders.tracestate = tracestate;

      let statusCode: number;
      let excerpt = '';
      let retryAfter: string | string[] | undefined;
      try {
        const response = await pool.request({ path, method, headers: requestHeaders, body: record.value, signal });
        statusCode = response.statusCode;
        retryAfter = response.headers['retry-after'];
        if (classifyStatus(statusCode) === 'done') {
          // Read to the end so the connection goes back to the pool for the next event.
          await response.body.dump();
        } else {
          excerpt = bodyExcerpt(await readStart(response.body, EXCERPT_READ_BYTES));
        }
      } catch (error) {
        // The worker aborts with its TimeoutError; rethrow that, not undici's wrapper, so the
        // DLQ class reads `timeout`.
        if (signal.aborted) throw signal.reason;
        throw requestError(error, where);
      }

      const outcome = classifyStatus(statusCode);
      if (outcome === 'done') return;
      const message = `${method} ${where} answered ${describeStatus(statusCode, STATUS_CODES[statusCode], excerpt)}`;
      const retryAfterMs = parseRetryAfter(retryAfter, Date.now());
      throw new SinkError(message, outcome, { ...(retryAfterMs !== undefined && { retryAfterMs }) });
    },

    async close() {
      // close() lets requests in flight finish; the worker has drained or aborted them first.
      await pool?.close();
      pool = undefined;
    },
  };
}

/** The endpoint's URL; an invalid one is reported without its text (Node's TypeError would carry it as `input`). */
function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new Error('the http sink url is not a valid URL');
  }
}

/** Configured headers in lower case (HTTP names are case-insensitive), with the default content-type. */
function baseHeaders(configured: Readonly<Record<string, string>>): Record<string, string> {
  const lower = Object.fromEntries(Object.entries(configured).map(([name, value]) => [name.toLowerCase(), value]));
  return { 'content-type': DEFAULT_CONTENT_TYPE, ...lower };
}

/** The first `limit` bytes of a body as text; the rest is discarded so the socket can be reused or closed. */
async function readStart(body: AsyncIterable<Buffer> & { dump(opts?: { limit: number }): Promise<void> }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  // Breaking out of the loop destroys the stream; dump() on a finished one is a no-op.
  await body.dump().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * A request that got no HTTP answer. undici marks an invalid request (a header value with a
 * line break, e.g. from an event id) with UND_ERR_INVALID_ARG: sending it again cannot work.
 * Everything else (refused, reset, DNS, TLS, a socket closed mid-answer) is the receiver's or
 * the network's state, which changes: retriable.
 */
function requestError(error: unknown, where: string): SinkError {
  const code = (error as { code?: unknown }).code;
  const reason = error instanceof Error ? error.message : String(error);
  const detail = typeof code === 'string' && !reason.includes(code) ? `${code}: ${reason}` : reason;
  const kind = code === 'UND_ERR_INVALID_ARG' ? 'permanent' : 'retriable';
  return new SinkError(`request to ${where} failed: ${detail}`, kind, { cause: error });
}
