import type { Registry } from 'prom-client';
import type { Env } from '../config/env.js';
import type { KafkaPort } from '../kafka/port.js';
import type { Logger } from '../observability/logger.js';
import { startOpsServer, type OpsServer, type ReadinessCheck } from '../observability/http-server.js';
import { LagCollector, type LagTarget } from '../observability/lag.js';
import type { Metrics } from '../observability/metrics.js';
import type { Redis } from '../redis/connection.js';
import { withTimeout } from '../resilience/timeout.js';
import { StateGuard } from '../dedup/state-guard.js';
import type { Role } from './role.js';

/** Readiness: Kafka answers a metadata request, Redis answers PING and still holds every topology's state. */
export function readinessChecks(kafka: KafkaPort, redis: Redis): ReadinessCheck[] {
  const admin = kafka.admin();
  return [
    {
      name: 'kafka',
      check: () => admin.ping(),
      close: () => admin.disconnect(),
    },
    {
      name: 'redis',
      async check() {
        // A command sent while disconnected would wait in the offline queue; answer at once instead.
        if (redis.status !== 'ready') throw new Error(`redis connection is ${redis.status}`);
        await redis.ping();
      },
    },
    {
      name: 'redis-state',
      async check() {
        const lost = StateGuard.all(redis).filter((guard) => guard.lost !== undefined);
        if (lost.length > 0) throw new Error(lost.map((guard) => `Redis lost the state of topology ${guard.topology}; run flowyard state recover`).join('; '));
      },
    },
  ];
}

/**
 * Runs roles in one process with the ops server, until SIGTERM/SIGINT. Shutdown stops
 * the roles in reverse start order and is bounded by `env.shutdownTimeoutMs`; past that
 * the process exits with 1 and Kafka re-delivers whatever was not committed.
 */
export class Service {
  private ops: OpsServer | undefined;
  private started: Role[] = [];
  /** The role whose start() is running. */
  private starting: Role | undefined;
  private stopping: Promise<void> | undefined;
  private lag: LagCollector | undefined;
  /** True from the moment every role started until shutdown begins: the `roles` readiness check. */
  private running = false;

  constructor(
    private readonly options: {
      env: Env;
      logger: Logger;
      registry: Registry;
      readiness: readonly ReadinessCheck[];
      /** Closed after the roles stopped (clients, connections). */
      onClosed?: () => Promise<void>;
      /** Reports `flowyard_consumer_lag` for these groups (asked again on every pass) once the roles run. */
      lag?: { kafka: KafkaPort; metrics: Metrics; targets: () => readonly LagTarget[]; intervalMs?: number };
    },
  ) {}

  get httpPort(): number | undefined {
    return this.ops?.port;
  }

  /**
   * Starts the ops server alone: liveness answers, readiness says the roles are starting.
   * `run` calls it before waiting for Redis and Kafka, so a pod that waits is alive and not ready.
   */
  async listen(): Promise<void> {
    const { env, logger, registry, readiness } = this.options;
    if (this.ops !== undefined) return;
    // A pod joining its groups takes no traffic yet, and a stopping one none any more.
    const rolesStarted: ReadinessCheck = {
      name: 'roles',
      check: async () => {
        if (!this.running) throw new Error(this.stopping === undefined ? 'roles are starting' : 'shutting down');
      },
    };
    this.ops = await startOpsServer({ port: env.httpPort, registry, readiness: [...readiness, rolesStarted], logger });
  }

  async start(roles: readonly Role[]): Promise<void> {
    const { logger } = this.options;
    await this.listen();
    for (const role of roles) {
      if (this.stopping !== undefined) throw new Error('shutting down: roles not started');
      logger.info({ role: role.name }, 'starting role');
      // Known to stop() while it starts: a start that waits for a dependency ends when shutdown begins.
      this.starting = role;
      try {
        await role.start();
      } finally {
        this.starting = undefined;
      }
      this.started.push(role);
    }
    this.running = true;
    if (this.options.lag !== undefined) {
      this.lag = new LagCollector({ ...this.options.lag, logger });
      this.lag.start();
    }
  }

  /** Adds a role to a running service (hot reload hands over to a new plan this way). */
  async add(role: Role): Promise<void> {
    await role.start();
    this.started.push(role);
  }

  async remove(role: Role): Promise<void> {
    this.started = this.started.filter((r) => r !== role);
    await role.stop();
  }

  /** Installs SIGTERM/SIGINT handlers; resolves with the exit code once stopped. */
  untilSignal(): Promise<number> {
    return new Promise((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        this.options.logger.info({ signal }, 'shutting down');
        this.stop().then(
          () => resolve(0),
          (error: unknown) => {
            this.options.logger.error({ err: error }, 'shutdown failed');
            resolve(1);
          },
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
  }

  stop(): Promise<void> {
    this.running = false;
    this.stopping ??= this.stopBounded();
    return this.stopping;
  }

  private async stopBounded(): Promise<void> {
    const { logger, env } = this.options;
    await withTimeout(env.shutdownTimeoutMs, () => this.stopAll(), () => new Error(`shutdown did not finish within ${env.shutdownTimeoutMs} ms`));
    logger.info('stopped');
  }

  private async stopAll(): Promise<void> {
    const failures: unknown[] = [];
    await this.lag?.stop();
    for (const role of [...this.started, ...(this.starting ? [this.starting] : [])].reverse()) {
      try {
        await role.stop();
      } catch (error) {
        this.options.logger.error({ err: error, role: role.name }, 'role failed to stop cleanly');
        failures.push(error);
      }
    }
    this.started = [];
    await this.options.onClosed?.();
    await this.ops?.close();
    for (const check of this.options.readiness) {
      await check.close?.().catch((err: unknown) => this.options.logger.warn({ err, check: check.name }, 'closing a readiness check failed'));
    }
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} role(s) failed to stop cleanly`);
  }
}
