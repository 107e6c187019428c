/**
 * The webhook `flowyard demo` starts for http sinks that point at this machine: a node:http
 * server on 127.0.0.1 that answers 200 and records each request, so the demo can show what
 * the webhook received. A repeated Idempotency-Key is answered 200 too (what a receiver that
 * drops repeats does) and counted, so a double delivery would be visible.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | undefined;
  readonly traceparent: string | undefined;
  readonly body: string;
}

/** Request bodies above this are cut: the demo shows excerpts, and events are small. */
const MAX_BODY_BYTES = 1024 * 1024;

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private server: Server | undefined;

  /** `port` 0 picks a free one; `port` after start() says which. */
  constructor(private readonly requestedPort: number) {}

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : this.requestedPort;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      readBody(request)
        .then((body) => {
          this.requests.push({
            method: request.method ?? '',
            path: request.url ?? '',
            idempotencyKey: header(request, 'idempotency-key'),
            traceparent: header(request, 'traceparent'),
            body,
          });
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        })
        .catch((error: Error) => response.writeHead(400).end(error.message));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new Error(`the demo webhook receiver cannot listen on 127.0.0.1:${this.requestedPort}: the port is in use; free it or point the http sink at another port`)
            : error,
        ),
      );
      server.listen(this.requestedPort, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Requests per Idempotency-Key. */
  byKey(): Map<string, ReceivedRequest[]> {
    const keys = new Map<string, ReceivedRequest[]>();
    for (const request of this.requests) {
      const key = request.idempotencyKey ?? '';
      keys.set(key, [...(keys.get(key) ?? []), request]);
    }
    return keys;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // The sink's keep-alive connections would hold close() open until they time out.
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
