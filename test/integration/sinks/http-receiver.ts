/**
 * A real HTTP receiver (node:http on 127.0.0.1) for pipeline tests of the http sink: records
 * every request with its path, Idempotency-Key and arrival time, and answers through a
 * handler the test chooses, which may also never answer (a hanging receiver).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** When the whole request had arrived (ms since epoch). */
  readonly at: number;
  /** 1 for the first request with this path and Idempotency-Key, 2 for the second, ... */
  readonly nth: number;
}

/** Answers a request; may leave `response` unanswered to hang. */
export type ReceiverHandler = (request: ReceivedRequest, response: ServerResponse) => void;

export function answer(response: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  response.writeHead(status, headers);
  response.end(body);
}

export class HttpReceiver {
  readonly received: ReceivedRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(private readonly handler: ReceiverHandler) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '';
        const idempotencyKey = String(request.headers['idempotency-key'] ?? '');
        const nth = this.received.filter((r) => r.path === path && r.idempotencyKey === idempotencyKey).length + 1;
        const received: ReceivedRequest = { method: request.method ?? '', path, idempotencyKey, headers: request.headers, body: Buffer.concat(chunks), at: Date.now(), nth };
        this.received.push(received);
        this.handler(received, response);
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on a free port of 127.0.0.1; returns the origin (`http://127.0.0.1:<port>`). */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests to `path` per Idempotency-Key. */
  countsByKey(path: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.received) if (r.path === path) counts.set(r.idempotencyKey, (counts.get(r.idempotencyKey) ?? 0) + 1);
    return counts;
  }

  requestsFor(path: string, idempotencyKey: string): ReceivedRequest[] {
    return this.received.filter((r) => r.path === path && r.idempotencyKey === idempotencyKey);
  }

  /** Drops open (also hanging) connections, then stops listening. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
