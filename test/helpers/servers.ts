import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { loadEnv, type Env } from '../../src/config/env.js';
import { createKafka } from '../../src/kafka/client.js';
import type { KafkaPort } from '../../src/kafka/port.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';

/**
 * Integration tests use the real servers `make test` started (KAFKA_BROKERS, REDIS_URL,
 * defaulting to 127.0.0.1:9092 and :6379). Each test names its own topics and groups.
 */
export function testEnv(overrides: Record<string, string> = {}): Env {
  return loadEnv({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', FLOWYARD_HTTP_PORT: '0', ...overrides });
}

export function testLogger(): Logger {
  return createLogger((process.env.LOG_LEVEL as 'warn' | undefined) ?? 'warn');
}

/** flowyard's Kafka port as the environment configures it (KAFKA_CLIENT picks the backend). */
export function testKafka(clientId = 'test'): Promise<KafkaPort> {
  return createKafka(testEnv().kafka, testLogger(), clientId);
}

/** A name no other test (or earlier run) uses: `<prefix>-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return true;
    } catch {
      // the probe's target may be down on purpose; keep polling until the deadline
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A private redis-server on a free port, for tests that stop and restart Redis. `extraArgs`
 * go to redis-server as given (e.g. `--tls-port` and its certificates); `port` stays plain,
 * and start() waits for it to answer PING.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extraArgs], {
      stdio: 'ignore',
    });
    this.child = child;
    const up = await eventually(async () => {
      const { Redis } = await import('ioredis');
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } finally {
        probe.disconnect();
      }
    }, 10_000);
    if (!up) throw new Error(`private redis-server on port ${this.port} did not start`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
