/**
 * Redis AUTH on a throwaway redis-server (a free port, `CONFIG SET requirepass`; the shared
 * Redis is not touched). The right REDIS_PASSWORD (or _FILE) connects; a wrong one, or none
 * when the server needs one, rejects `connect()` at once with an InvalidInputError naming
 * the setting and ends the connection instead of reconnecting forever. Through the CLI,
 * `run` exits 2 with that message and does not hang; the password is never printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Redis as IORedis } from 'ioredis';
import { loadEnv } from '../../../src/config/env.js';
import { InvalidInputError } from '../../../src/errors.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createRedis } from '../../../src/redis/connection.js';
import { PrivateRedis, eventually, freePort } from '../../helpers/servers.js';
import { requireBuild, spawnCli } from '../../helpers/cli.js';

/** Far longer than a refused login takes (~1 s); a command still running then hangs. */
const HANG_MS = 30_000;
const flowyard = (args: readonly string[], vars: Record<string, string>) => spawnCli(args, vars, HANG_MS);

const PASSWORD = 'redis-test-secret-41c9';
const WRONG = 'not-the-redis-password';
let server: PrivateRedis;
let dir: string;

beforeAll(async () => {
  server = new PrivateRedis(await freePort());
  await server.start();
  const admin = new IORedis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await admin.connect();
  await admin.config('SET', 'requirepass', PASSWORD);
  admin.disconnect();
  dir = mkdtempSync(join(tmpdir(), 'flowyard-redis-auth-'));
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function capture(lines: string[]): ReturnType<typeof createLogger> {
  return createLogger('debug', { write: (line: string) => lines.push(line) } as unknown as Writable);
}

test('the right REDIS_PASSWORD connects and commands work', async () => {
  const redis = createRedis(loadEnv({ REDIS_URL: server.url, REDIS_PASSWORD: PASSWORD }).redis, capture([]));
  await redis.connect();
  try {
    await redis.set('auth-test', 'ok');
    expect(await redis.get('auth-test')).toBe('ok');
  } finally {
    await redis.quit();
  }
});

test('REDIS_PASSWORD_FILE (a Kubernetes Secret mount, trailing newline included) connects', async () => {
  const file = join(dir, 'redis-password');
  writeFileSync(file, `${PASSWORD}\n`);
  const redis = createRedis(loadEnv({ REDIS_URL: server.url, REDIS_PASSWORD_FILE: file }).redis, capture([]));
  await redis.connect();
  try {
    expect(await redis.ping()).toBe('PONG');
  } finally {
    await redis.quit();
  }
});

test.each([
  ['a wrong REDIS_PASSWORD', { REDIS_PASSWORD: WRONG }, /^environment: REDIS_PASSWORD: Redis at 127\.0\.0\.1:\d+ refused authentication \(WRONGPASS .*\); check REDIS_PASSWORD \(or the file REDIS_PASSWORD_FILE names\)$/],
  ['no password', {}, /^environment: REDIS_PASSWORD: Redis at 127\.0\.0\.1:\d+ refused authentication \(NOAUTH .*\); the server requires a password and none is set: set REDIS_PASSWORD or REDIS_PASSWORD_FILE$/],
  ['a wrong password in the URL', { URL_PASSWORD: WRONG }, /^environment: REDIS_URL: Redis at 127\.0\.0\.1:\d+ refused authentication \(WRONGPASS .*\); check the password in the URL$/],
] as const)('%s: connect() rejects naming the setting, and the client stops reconnecting', async (_case, vars, expected) => {
  const { URL_PASSWORD, ...rest } = vars as Record<string, string>;
  const url = URL_PASSWORD ? server.url.replace('redis://', `redis://:${URL_PASSWORD}@`) : server.url;
  const lines: string[] = [];
  const redis = createRedis(loadEnv({ REDIS_URL: url, ...rest }).redis, capture(lines));
  const error = await redis.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(expected);
  // Ended, not retrying: before the fix a wrong password reconnected every 2 s and held the process open.
  expect(await eventually(() => redis.status === 'end', 5_000)).toBe(true);
  expect(lines.join('')).not.toContain(WRONG);
});

describe('through the CLI', () => {
  beforeAll(requireBuild);

  test('run with a wrong REDIS_PASSWORD exits 2 naming it, and ends', async () => {
    const result = await flowyard(['run', 'topologies/orders-fanout.yaml'], { REDIS_URL: server.url, REDIS_PASSWORD: WRONG, LOG_LEVEL: 'debug' });
    expect(result.signal).toBeNull(); // ended by itself (it hung before the fix)
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^environment: REDIS_PASSWORD: Redis at 127\.0\.0\.1:\d+ refused authentication \(WRONGPASS /)]);
    expect(result.stdout + result.stderr).not.toContain(WRONG);
  });
});
