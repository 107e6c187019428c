/**
 * The http sink against a real node:http server: what arrives (body bytes, Idempotency-Key,
 * traceparent, content-type, configured headers), the status rules (200, 409, 422, 408, 429
 * with Retry-After, 503, a refused connection, a hanging receiver cut off by the signal),
 * error messages without the URL's password and query values,
 * one side effect per event id with a receiver that honours Idempotency-Key, and a pool
 * that never holds more than `concurrency` connections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { inspect } from 'node:util';
import { createHttpSink } from '../../../src/sinks/http/sink.js';
import { SinkError, type Sink } from '../../../src/sinks/sink.js';
import { freePort } from '../../helpers/servers.js';
import { noTimeout, rejectionOf, sinkContext, sinkRecord, timeoutAfter } from './sink-context.js';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

type Handler = (request: Received, response: ServerResponse) => void;

/** A real HTTP receiver that records requests and counts its open sockets. */
class Receiver {
  readonly received: Received[] = [];
  openSockets = 0;
  maxOpenSockets = 0;
  socketsEver = 0;
  inFlight = 0;
  maxInFlight = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(private handler: Handler) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const received = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) };
        this.received.push(received);
        this.inFlight += 1;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        response.on('close', () => (this.inFlight -= 1));
        this.handler(received, response);
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      this.socketsEver += 1;
      this.openSockets += 1;
      this.maxOpenSockets = Math.max(this.maxOpenSockets, this.openSockets);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.openSockets -= 1;
      });
    });
  }

  respondWith(handler: Handler): void {
    this.handler = handler;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function reply(status: number, body = '', headers: Record<string, string> = {}): Handler {
  return (_request, response) => {
    response.writeHead(status, headers);
    response.end(body);
  };
}

describe('http sink', () => {
  let receiver: Receiver;
  let origin: string;
  const sinks: Sink[] = [];

  async function startSink(config: Record<string, unknown> = {}, concurrency = 4): Promise<Sink> {
    const sink = createHttpSink({ type: 'http', url: `${origin}/hook?src=flowyard`, ...config }, sinkContext({ concurrency }));
    await sink.start();
    sinks.push(sink);
    return sink;
  }

  beforeEach(async () => {
    receiver = new Receiver(reply(200, 'ok'));
    origin = await receiver.listen();
  });

  afterEach(async () => {
    // Close the receiver first: it drops hanging requests, so the pools close at once.
    await receiver.close();
    await Promise.all(sinks.splice(0).map((sink) => sink.close()));
  });

  test('200: sends the original bytes with Idempotency-Key, traceparent, content-type and the configured headers', async () => {
    const sink = await startSink({ headers: { Authorization: 'Bearer s3cret', 'X-Tenant': 'acme' } });
    const record = sinkRecord({ orderId: 'o-1', amount: 12.5, note: 'crème brûlée' });
    await sink.write(record, noTimeout());

    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/hook?src=flowyard');
    expect(request?.body.equals(record.value)).toBe(true);
    expect(request?.headers).toMatchObject({
      'idempotency-key': record.eventId,
      traceparent: record.headers.traceparent,
      'content-type': 'application/json',
      authorization: 'Bearer s3cret',
      'x-tenant': 'acme',
    });
  });

  test('method PUT and a configured content-type are used', async () => {
    const sink = await startSink({ method: 'PUT', headers: { 'Content-Type': 'application/vnd.orders+json' } });
    await sink.write(sinkRecord({ a: 1 }), noTimeout());
    expect(receiver.received[0]?.method).toBe('PUT');
    expect(receiver.received[0]?.headers['content-type']).toBe('application/vnd.orders+json');
  });

  test('a configured Idempotency-Key cannot replace the event id', async () => {
    const sink = await startSink({ headers: { 'Idempotency-Key': 'fixed' } });
    const record = sinkRecord({ a: 1 });
    await sink.write(record, noTimeout());
    expect(receiver.received[0]?.headers['idempotency-key']).toBe(record.eventId);
  });

  test('redelivery: a receiver honouring Idempotency-Key answers a repeated key with its stored result; done each time, one side effect', async () => {
    const effects = new Map<string, Buffer>();
    receiver.respondWith((request, response) => {
      const key = String(request.headers['idempotency-key']);
      if (!effects.has(key)) effects.set(key, request.body);
      reply(201, '{"created":true}')(request, response);
    });
    const sink = await startSink();
    const first = sinkRecord({ orderId: 'o-1' });
    const second = sinkRecord({ orderId: 'o-2' });

    await sink.write(first, noTimeout());
    await expect(sink.write(first, noTimeout())).resolves.toBeUndefined();
    await sink.write(second, noTimeout());
    await sink.write(first, noTimeout());

    expect(receiver.received.map((r) => r.headers['idempotency-key'])).toEqual([first.eventId, first.eventId, second.eventId, first.eventId]);
    expect([...effects.keys()]).toEqual([first.eventId, second.eventId]);
  });

  test('409 (the first request with this key still in progress) is permanent: counting it done could lose the event', async () => {
    receiver.respondWith(reply(409, '{"error":"a request with this Idempotency-Key is in progress"}'));
    const sink = await startSink();
    const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect([error.kind, error.retryAfterMs]).toEqual(['permanent', undefined]);
    expect(error.message).toContain('409 Conflict: {"error":"a request with this Idempotency-Key is in progress"}');
  });

  test('422: permanent, with the status and an excerpt of at most 200 characters of the body', async () => {
    const body = JSON.stringify({ error: 'sku unknown', detail: 'x'.repeat(300), marker: 'FAR_AWAY_TEXT' });
    receiver.respondWith(reply(422, body));
    const sink = await startSink();

    const error = await rejectionOf(sink.write(sinkRecord({ sku: 'nope' }), noTimeout()));
    expect(error).toBeInstanceOf(SinkError);
    const sinkError = error as SinkError;
    expect(sinkError.kind).toBe('permanent');
    expect(sinkError.message).toContain('422 Unprocessable Entity: {"error":"sku unknown"');
    const excerpt = sinkError.message.slice(sinkError.message.indexOf('{"error"'));
    expect(excerpt.length).toBeLessThanOrEqual(200);
    expect(sinkError.message).not.toContain('FAR_AWAY_TEXT');
    expect(sinkError.retryAfterMs).toBeUndefined();
  });

  test.each([400, 401, 404, 410])('%i is permanent', async (status) => {
    receiver.respondWith(reply(status, 'no'));
    const sink = await startSink();
    const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
    expect([error.kind, error.message]).toEqual(['permanent', expect.stringContaining(`answered ${status}`)]);
  });

  test('429 with Retry-After in seconds: retriable with retryAfterMs', async () => {
    receiver.respondWith(reply(429, 'slow down', { 'Retry-After': '7' }));
    const sink = await startSink();
    const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect(error.kind).toBe('retriable');
    expect(error.retryAfterMs).toBe(7_000);
    expect(error.message).toContain('429 Too Many Requests: slow down');
  });

  test('503 with Retry-After as an HTTP date: retriable with the time until then', async () => {
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 30_000);
    receiver.respondWith(reply(503, 'maintenance', { 'Retry-After': at.toUTCString() }));
    const sink = await startSink();
    const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
    expect(error.kind).toBe('retriable');
    expect(error.retryAfterMs).toBeGreaterThan(25_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(31_000);
  });

  test('503 and 408 without Retry-After: retriable, no hint', async () => {
    const sink = await startSink();
    for (const status of [503, 408]) {
      receiver.respondWith(reply(status, 'later'));
      const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
      expect([status, error.kind, error.retryAfterMs]).toEqual([status, 'retriable', undefined]);
    }
  });

  test('a failure with a large body (read only in part) does not hold up the next events', async () => {
    const sink = await startSink({}, 1);
    receiver.respondWith(reply(500, 'x'.repeat(10_000)));
    await rejectionOf(sink.write(sinkRecord({}), noTimeout()));
    receiver.respondWith(reply(200, 'ok'));
    await sink.write(sinkRecord({}), noTimeout());
    await sink.write(sinkRecord({}), noTimeout());
    expect(receiver.received).toHaveLength(3);
  });

  test('a hanging receiver: the write rejects with the signal\'s reason when it aborts', async () => {
    receiver.respondWith(() => {
      // never answers
    });
    const sink = await startSink();
    const { signal, reason } = timeoutAfter(300);
    const started = Date.now();
    const error = await rejectionOf(sink.write(sinkRecord({}), signal));
    expect(error).toBe(reason);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  test('a refused connection is retriable', async () => {
    const sink = createHttpSink({ type: 'http', url: `http://127.0.0.1:${await freePort()}/hook` }, sinkContext());
    await sink.start();
    sinks.push(sink);
    const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect(error.kind).toBe('retriable');
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  describe('error messages (logs, exceptions, the DLQ fy-error header) never carry the URL\'s secrets', () => {
    const secrets = ['pa55-word', 'qu3ry-t0ken', 'b3arer-t0ken'];
    const secretUrl = (base: string): string => `${base.replace('http://', 'http://hook-user:pa55-word@')}/v1/hook?token=qu3ry-t0ken&tenant=acme`;
    const headers = { Authorization: 'Bearer b3arer-t0ken' };

    test('a failing status names the endpoint with password and query values masked, path kept', async () => {
      receiver.respondWith(reply(422, 'rejected'));
      const sink = await startSink({ url: secretUrl(origin), headers });
      const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
      expect(error).toBeInstanceOf(SinkError);
      expect(receiver.received[0]?.url).toBe('/v1/hook?token=qu3ry-t0ken&tenant=acme');
      expect(error.message).toBe(`POST ${origin.replace('http://', 'http://hook-user:***@')}/v1/hook?token=***&tenant=*** answered 422 Unprocessable Entity: rejected`);
      // inspect() shows the stack and the cause too, as a logger serialising the error would.
      for (const secret of secrets) expect(inspect(error, { depth: 6 })).not.toContain(secret);
    });

    test('a refused connection names the endpoint with password and query values masked', async () => {
      const url = secretUrl(`http://127.0.0.1:${await freePort()}`);
      const sink = createHttpSink({ type: 'http', url, headers }, sinkContext());
      await sink.start();
      sinks.push(sink);
      const error = (await rejectionOf(sink.write(sinkRecord({}), noTimeout()))) as SinkError;
      expect([error.kind, error.message]).toEqual(['retriable', expect.stringMatching(/^request to http:\/\/hook-user:\*\*\*@127\.0\.0\.1:\d+\/v1\/hook\?token=\*\*\*&tenant=\*\*\* failed: .*ECONNREFUSED/)]);
      // inspect() shows the stack and the cause too, as a logger serialising the error would.
      for (const secret of secrets) expect(inspect(error, { depth: 6 })).not.toContain(secret);
    });
  });

  test('an event id that cannot be a header value is permanent', async () => {
    const sink = await startSink();
    const error = (await rejectionOf(sink.write(sinkRecord({}, 'bad\r\nid'), noTimeout()))) as SinkError;
    expect([error.kind, receiver.received.length]).toEqual(['permanent', 0]);
  });

  test('the pool never opens more than `concurrency` connections, and uses all of them', async () => {
    receiver.respondWith((request, response) => {
      setTimeout(() => reply(200, 'ok')(request, response), 100);
    });
    const sink = await startSink({}, 3);
    await Promise.all(Array.from({ length: 24 }, (_, index) => sink.write(sinkRecord({ index }), noTimeout())));

    expect(receiver.received).toHaveLength(24);
    expect(receiver.maxOpenSockets).toBe(3);
    expect(receiver.socketsEver).toBe(3); // keep-alive: reused, not reopened
    expect(receiver.maxInFlight).toBe(3);
  });
});
