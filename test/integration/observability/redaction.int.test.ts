/**
 * Secrets and payloads never reach the log. The real `flowyard run` process, at
 * LOG_LEVEL=debug, runs a fan-out whose http sinks send `Authorization: Bearer
 * ${WEBHOOK_TOKEN}` (resolved from the environment) to a local receiver that fails the first
 * attempt of every other event (retry lines) and rejects every event of a second destination
 * (dead-letter lines) and drops the connection on the first attempt of a third (undici's
 * connection errors); Kafka is reached over SASL/SCRAM and Redis with AUTH, each with its own password; payloads carry secret-looking fields, and one record is not JSON. Everything the
 * process prints is captured: it holds the event ids (so the capture saw the event-level
 * lines) and none of the four secrets nor any payload value.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis as IORedis } from 'ioredis';
import { createPlanTopics } from '../../../src/cli/commands/topics.js';
import { createKafka } from '../../../src/kafka/client.js';
import type { KafkaPort } from '../../../src/kafka/port.js';
import { parseTopology } from '../../../src/topology/load.js';
import { PrivateRedis, eventually, freePort, testEnv, testLogger, uniqueName } from '../../helpers/servers.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const SASL_BROKER = `127.0.0.1:${process.env.FLOWYARD_KAFKA_SASL_PORT ?? '9094'}`;
/** The local broker's SASL test user (infra/kafka.sh). */
const KAFKA_USER = 'flowyard';
const KAFKA_PASSWORD = 'flowyard-local-secret';
const EVENTS = 12;

const tag = randomBytes(4).toString('hex');
const WEBHOOK_TOKEN = `whk-token-${tag}-do-not-log`;
const REDIS_PASSWORD = `redis-pass-${tag}-do-not-log`;

/**
 * Request counts per path and Idempotency-Key. /hook fails the first attempt of even events
 * with 503, /reject refuses every event with 422, /cut drops the connection on each first attempt.
 */
class Receiver {
  readonly attempts = new Map<string, number>();
  readonly authorizations = new Set<string>();
  private readonly server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['idempotency-key']);
      const seen = (this.attempts.get(`${request.url} ${id}`) ?? 0) + 1;
      this.attempts.set(`${request.url} ${id}`, seen);
      this.authorizations.add(String(request.headers.authorization));
      const even = Number(id.slice(id.lastIndexOf('-') + 1)) % 2 === 0;
      if (request.url === '/reject') response.writeHead(422).end('rejected');
      else if (request.url === '/cut' && seen === 1) request.socket.destroy();
      else if (even && seen === 1) response.writeHead(503).end('try later');
      else response.writeHead(200).end();
    });
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const saslVars = { KAFKA_BROKERS: SASL_BROKER, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: KAFKA_USER, KAFKA_SASL_PASSWORD: KAFKA_PASSWORD };
let redis: PrivateRedis;
let receiver: Receiver;
let kafka: KafkaPort;
let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  if (!existsSync(`${repo}dist/cli/main.js`)) throw new Error('dist/ is missing: run `npm run -s build` first');
  redis = new PrivateRedis(await freePort());
  await redis.start();
  const admin = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await admin.connect();
  await admin.config('SET', 'requirepass', REDIS_PASSWORD);
  admin.disconnect();
  receiver = new Receiver();
  kafka = await createKafka(testEnv(saslVars).kafka, testLogger(), 'redaction-test');
  dir = mkdtempSync(join(tmpdir(), 'flowyard-redaction-'));
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await receiver.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a run with secrets in config and payloads logs neither, and logs the event ids', async () => {
  const port = await receiver.listen();
  const name = uniqueName('redact');
  // Quiet circuit and generous budget: every write is retried or dead-lettered, never paused.
  const policy = 'retry: { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 200, budgetRatio: 1 }, circuitBreaker: { failureRatio: 1, minRequests: 100000 }';
  const yaml = [
    `name: ${name}`,
    `source: { topic: ${name}.events, format: json, key: customerId, id: eventId }`,
    'mode: fanout',
    'partitions: 2',
    'destinations:',
    `  - { name: hook, sink: { type: http, url: "http://127.0.0.1:${port}/hook", headers: { Authorization: "Bearer \${WEBHOOK_TOKEN}" } }, ${policy} }`,
    `  - { name: reject, sink: { type: http, url: "http://127.0.0.1:${port}/reject", headers: { Authorization: "Bearer \${WEBHOOK_TOKEN}" } }, ${policy} }`,
    `  - { name: cut, sink: { type: http, url: "http://127.0.0.1:${port}/cut", headers: { Authorization: "Bearer \${WEBHOOK_TOKEN}" } }, ${policy} }`,
    `dlq: { topic: ${name}.dlq }`,
  ].join('\n');
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, yaml);
  const { plan } = parseTopology(yaml, file, { WEBHOOK_TOKEN });
  await createPlanTopics(plan, kafka);

  let stdout = '';
  let stderr = '';
  const proc = spawn(process.execPath, [`${repo}bin/flowyard.js`, 'run', file], {
    cwd: repo,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KAFKA_|REDIS_|LOG_LEVEL$|FLOWYARD_HTTP_PORT$)/.test(k))),
      ...saslVars,
      REDIS_URL: redis.url,
      REDIS_PASSWORD,
      WEBHOOK_TOKEN,
      LOG_LEVEL: 'debug',
      FLOWYARD_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

  const ids = Array.from({ length: EVENTS }, (_, i) => `evt-${tag}-${i}`);
  // Payload values that must never be logged; none of them is the id or the key (those are logged by design).
  const payloadValues = ids.flatMap((_, i) => [`4111-1111-${tag}-${i}`, `pw-${tag}-${i}`, `street-${tag}-${i}`]);
  // JSON.parse quotes the start of what it could not parse: the secret is in the first characters.
  const notJsonSecret = randomBytes(4).toString('hex');
  const notJson = `s${notJsonSecret}=5500-0000`;
  const producer = await kafka.producer();
  try {
    await producer.send([{
      topic: plan.source.topics[0]!,
      records: [
        ...ids.map((eventId, i) => ({
          key: `cust-${i % 3}`,
          value: JSON.stringify({ eventId, customerId: `cust-${i % 3}`, cardNumber: payloadValues[3 * i], password: payloadValues[3 * i + 1], address: { street: payloadValues[3 * i + 2] } }),
        })),
        { key: 'cust-x', value: notJson },
      ],
    }]);
  } finally {
    await producer.disconnect();
  }

  const delivered = (): boolean =>
    ids.every((id, i) => receiver.attempts.has(`/reject ${id}`) && (receiver.attempts.get(`/hook ${id}`) ?? 0) >= (i % 2 === 0 ? 2 : 1) && (receiver.attempts.get(`/cut ${id}`) ?? 0) >= 2);
  const logged = (): boolean =>
    ids.every((id) => stdout.includes(`"eventId":"${id}"`)) &&
    (stdout.match(/write failed for good; dead-lettering/g) ?? []).length >= EVENTS &&
    stdout.includes('invalid event dead-lettered');
  const done = await eventually(() => delivered() && logged(), 120_000, 200);
  proc.kill('SIGTERM');
  const code = await exited;
  expect({ done, stderr }).toEqual({ done: true, stderr: '' });
  expect(code).toBe(0);
  // The receiver got the resolved header: the secret was in use, not absent.
  expect([...receiver.authorizations]).toEqual([`Bearer ${WEBHOOK_TOKEN}`]);

  const lines = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  // The capture holds event-level lines of both kinds, with their ids.
  for (const id of ids.filter((_, i) => i % 2 === 0)) {
    expect(lines.some((l) => l.msg === 'write failed; retrying' && l.eventId === id && l.destination === 'hook')).toBe(true);
  }
  for (const id of ids) {
    expect(lines.some((l) => l.msg === 'write failed for good; dead-lettering' && l.eventId === id && l.destination === 'reject')).toBe(true);
    expect(lines.some((l) => l.msg === 'write failed; retrying' && l.eventId === id && l.destination === 'cut')).toBe(true);
  }

  const output = stdout + stderr;
  for (const secret of [WEBHOOK_TOKEN, REDIS_PASSWORD, KAFKA_PASSWORD]) expect(output).not.toContain(secret);
  expect(payloadValues.filter((value) => output.includes(value))).toEqual([]);
  expect(output).not.toContain(notJsonSecret);
  // ...while the reason for the dead letter is still logged.
  expect(lines.some((l) => l.msg === 'invalid event dead-lettered' && typeof l.reason === 'string' && l.reason.startsWith('not JSON'))).toBe(true);
});
