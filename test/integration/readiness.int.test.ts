/**
 * Proves /readyz follows its dependencies: ready with Kafka and Redis up, unready while a
 * (private) Redis is stopped, ready again when it returns; /healthz stays alive throughout.
 */
import { Registry } from 'prom-client';
import type { Role } from '../../src/runtime/role.js';
import { Service, readinessChecks } from '../../src/runtime/service.js';
import { createRedis } from '../../src/redis/connection.js';
import { PrivateRedis, eventually, freePort, testEnv, testKafka, testLogger } from '../helpers/servers.js';

test('/readyz turns unready when Redis stops and ready again when it returns', async () => {
  const redisServer = new PrivateRedis(await freePort());
  await redisServer.start();
  const env = testEnv({ REDIS_URL: redisServer.url });
  const logger = testLogger();
  const redis = createRedis(env.redis, logger);
  await redis.connect();
  const service = new Service({ env, logger, registry: new Registry(), readiness: readinessChecks(await testKafka('readyz'), redis) });
  await service.start([]);
  const url = (path: string) => `http://127.0.0.1:${service.httpPort}${path}`;
  const status = async (path: string) => (await fetch(url(path))).status;
  try {
    expect(await eventually(async () => (await status('/readyz')) === 200, 30_000)).toBe(true);

    await redisServer.stop();
    expect(await eventually(async () => (await status('/readyz')) === 503, 15_000)).toBe(true);
    expect(await (await fetch(url('/readyz'))).text()).toMatch(/redis/);
    expect(await status('/healthz')).toBe(200);

    await redisServer.start();
    expect(await eventually(async () => (await status('/readyz')) === 200, 30_000)).toBe(true);
  } finally {
    await service.stop();
    redis.disconnect();
    await redisServer.stop();
  }
});

test('/readyz is unready while the roles start and again once shutdown begins; /healthz answers throughout', async () => {
  const env = testEnv();
  const logger = testLogger();
  const redis = createRedis(env.redis, logger);
  await redis.connect();
  let started!: () => void;
  let stopped!: () => void;
  const slowRole: Role = {
    name: 'slow',
    start: () => new Promise<void>((resolve) => (started = resolve)),
    stop: () => new Promise<void>((resolve) => (stopped = resolve)),
  };
  const service = new Service({ env, logger, registry: new Registry(), readiness: readinessChecks(await testKafka('readyz-roles'), redis) });
  const starting = service.start([slowRole]);
  try {
    expect(await eventually(async () => service.httpPort !== undefined && started !== undefined, 10_000)).toBe(true);
    const url = (path: string) => `http://127.0.0.1:${service.httpPort}${path}`;
    const readyz = await fetch(url('/readyz'));
    expect([readyz.status, await readyz.text()]).toEqual([503, expect.stringContaining('roles are starting')]);
    expect((await fetch(url('/healthz'))).status).toBe(200);

    started();
    await starting;
    expect(await eventually(async () => (await fetch(url('/readyz'))).status === 200, 30_000)).toBe(true);

    const stopping = service.stop();
    expect(await eventually(async () => stopped !== undefined, 10_000)).toBe(true);
    const draining = await fetch(url('/readyz'));
    expect([draining.status, await draining.text()]).toEqual([503, expect.stringContaining('shutting down')]);
    stopped();
    await stopping;
  } finally {
    started?.();
    stopped?.();
    await service.stop();
    redis.disconnect();
  }
});
