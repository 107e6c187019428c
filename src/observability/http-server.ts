import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { withTimeout } from '../resilience/timeout.js';
import type { Logger } from './logger.js';

/** A dependency the process needs to do work; `/readyz` fails while any check fails. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
  /** Releases what the check holds open (a client connection). */
  close?(): Promise<void>;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Bounds a readiness check so a hung broker answers "not ready" instead of hanging the probe. */
const CHECK_TIMEOUT_MS = 2_000;

/**
 * `/metrics` (Prometheus text), `/healthz` (the process is alive and its event loop turns),
 * `/readyz` (every readiness check passes: Kafka and Redis reachable).
 */
export async function startOpsServer(options: {
  port: number;
  registry: Registry;
  readiness: readonly ReadinessCheck[];
  logger: Logger;
}): Promise<OpsServer> {
  const { registry, readiness, logger } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    if (request.method !== 'GET') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return reply(200, 'ok\n');
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => reply(200, text, registry.contentType))
        .catch((error: unknown) => reply(500, `metrics failed: ${String(error)}\n`));
      return;
    }
    if (path === '/readyz') {
      runChecks(readiness).then(
        (failures) => {
          if (failures.length === 0) return reply(200, 'ready\n');
          logger.warn({ failures }, 'not ready');
          reply(503, `not ready\n${failures.map((f) => `${f.name}: ${f.reason}`).join('\n')}\n`);
        },
        (error: unknown) => reply(500, `readiness failed: ${String(error)}\n`),
      );
      return;
    }
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'ops server listening: /metrics /healthz /readyz');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function runChecks(checks: readonly ReadinessCheck[]): Promise<{ name: string; reason: string }[]> {
  const results = await Promise.all(
    checks.map(async (c) => {
      try {
        await withTimeout(CHECK_TIMEOUT_MS, () => c.check(), () => new Error(`${c.name} did not answer within ${CHECK_TIMEOUT_MS} ms`));
        return undefined;
      } catch (error) {
        return { name: c.name, reason: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return results.filter((r): r is { name: string; reason: string } => r !== undefined);
}
