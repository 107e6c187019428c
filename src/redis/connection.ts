import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../config/env.js';
import { diagnoseTls, tlsOptions } from '../config/tls-check.js';
import { InvalidInputError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { waitAtStart, type StartWaitOptions } from '../runtime/start-wait.js';

export type { Redis } from 'ioredis';

/** Replies meaning the credentials are wrong or missing: retrying cannot fix them. */
const AUTH_FAILURE = /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i;

/**
 * A Redis connection from the validated environment. Commands issued while Redis is
 * down queue and are retried on reconnect (ioredis default); callers that must not wait
 * forever put their own timeout around them.
 *
 * Refused credentials at the first connect end the connection and make `connect()` reject
 * with an InvalidInputError naming the setting (exit 2), instead of reconnecting forever.
 * After the first ready they are retried like any other error: a password rotated on the
 * server side shows in the log and recovers when the Secret catches up.
 *
 * With TLS, the first `connect()` first checks the handshake (diagnoseTls): a CA that did not
 * sign the server's certificate, a client certificate the server wants and did not get, a port
 * without TLS reject it with an InvalidInputError naming the setting, before ioredis connects
 * (it would retry them forever, and a refused client certificate shows there only as ECONNRESET).
 */
export function createRedis(connection: RedisConnection, logger: Logger, name = 'flowyard'): Redis {
  let authFailure: Error | undefined;
  let everReady = false;
  const options: RedisOptions = {
    connectionName: name,
    lazyConnect: true,
    maxRetriesPerRequest: null, // keep commands across a Redis restart instead of failing them after 20 tries
    enableAutoPipelining: true, // batches commands issued in the same tick into one round trip
    retryStrategy: (times) => (authFailure && !everReady ? null : Math.min(times * 200, 2_000)), // ms between reconnects
    ...(connection.password && { password: connection.password }),
    ...(connection.tls && { tls: tlsOptions(connection.tls) }),
  };
  const redis = new Redis(connection.url, options);
  let lastError = '';
  redis.on('error', (error: Error) => {
    if (!everReady && AUTH_FAILURE.test(error.message)) authFailure = authError(connection, error);
    // ioredis emits the same error on every reconnect attempt; log each distinct one once.
    if (error.message !== lastError) logger.warn({ err: error, component: 'redis' }, 'redis connection error');
    lastError = error.message;
  });
  redis.on('ready', () => {
    everReady = true;
    if (lastError) logger.info({ component: 'redis' }, 'redis connection restored');
    lastError = '';
  });
  const connect = redis.connect.bind(redis);
  let tlsChecked = false;
  redis.connect = async (): Promise<void> => {
    if (connection.tls && !tlsChecked) {
      const verdict = await diagnoseTls({ prefix: 'REDIS', address: address(connection), tls: connection.tls, plaintext: REDIS_PLAINTEXT });
      if (verdict instanceof InvalidInputError) throw verdict;
      tlsChecked = verdict === 'ok';
    }
    try {
      await connect();
    } catch (error) {
      // ioredis rejects with "Connection is closed"; the reason came through the error event.
      throw authFailure ?? error;
    }
  };
  return redis;
}

/**
 * Connects `redis` (from createRedis), waiting while Redis is down or unreachable (see
 * start-wait.ts): ioredis keeps reconnecting by itself after a failed first connect, so each
 * try checks whether it got through and PINGs. Refused credentials or TLS still reject at
 * once with the InvalidInputError of `connect()`.
 */
export async function waitForRedis(redis: Redis, connection: RedisConnection, options: StartWaitOptions): Promise<void> {
  let lastError: Error | undefined;
  const onError = (error: Error): void => {
    lastError = error;
  };
  redis.on('error', onError);
  try {
    await waitAtStart(
      `Redis at ${address(connection)}`,
      async () => {
        // 'wait': never connected; 'end': gave up (an earlier start). Otherwise ioredis is reconnecting on its own.
        if (redis.status === 'wait' || redis.status === 'end') {
          // ioredis rejects with "Connection is closed."; the reason came through the error event.
          await redis.connect().catch((error: unknown) => {
            throw error instanceof InvalidInputError ? error : (lastError ?? error);
          });
        }
        if (redis.status !== 'ready') throw lastError ?? new Error(`connection is ${redis.status}`);
        await redis.ping();
      },
      (error) => !(error instanceof InvalidInputError),
      options,
    );
  } catch (error) {
    redis.disconnect(); // a connection left reconnecting would keep the process alive after the failure
    throw error;
  } finally {
    redis.off('error', onError);
  }
}

/** PING without TLS: a plaintext Redis answers +PONG, or -NOAUTH when it wants a password. */
const REDIS_PLAINTEXT = { request: Buffer.from('PING\r\n'), answered: (reply: Buffer) => /^[+-]/.test(reply.toString('latin1', 0, 1)) };

function address(connection: RedisConnection): string {
  const url = new URL(connection.url);
  return `${url.hostname}:${url.port || '6379'}`;
}

function authError(connection: RedisConnection, error: Error): InvalidInputError {
  const url = new URL(connection.url);
  const where = address(connection);
  const reply = error.message.split('\n')[0]!.trim();
  const [setting, hint] =
    connection.password !== undefined
      ? ['REDIS_PASSWORD', 'check REDIS_PASSWORD (or the file REDIS_PASSWORD_FILE names)']
      : url.password !== ''
        ? ['REDIS_URL', 'check the password in the URL']
        : ['REDIS_PASSWORD', 'the server requires a password and none is set: set REDIS_PASSWORD or REDIS_PASSWORD_FILE'];
  const message = `environment: ${setting}: Redis at ${where} refused authentication (${reply}); ${hint}`;
  return new InvalidInputError(message, [message]);
}
