/**
 * Shared pieces of the benchmarks: clients built from the compiled code in dist/, bench
 * topologies, pre-filling topics, a latency sink, request counting, percentiles and cleanup.
 * Nothing here is timed by tests; `make bench` (bench/run.mjs) is the only user.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { loadEnv } from '../dist/config/env.js';
import { createKafka } from '../dist/kafka/client.js';
import { createKafkaClient } from '../dist/kafka/kafkajs/client.js';
import { onKafkajsRequest } from '../dist/kafka/kafkajs/instrumentation.js';
import { produce } from '../dist/kafka/producer.js';
import { ensureTopics } from '../dist/kafka/topics.js';
import { createLogger } from '../dist/observability/logger.js';
import { pollUntil } from '../dist/resilience/poll.js';
import { retryLimited } from '../dist/resilience/retry.js';

/** Every bench figure uses this event shape: 1 KiB JSON, 10,000 causal keys. */
export const VALUE_BYTES = 1024;
export const KEYS = 10_000;
/** Partitions of every bench topic (the plan default, and what the source gets). */
export const PARTITIONS = 12;

export function benchEnv() {
  return loadEnv({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', FLOWYARD_HTTP_PORT: '0' });
}

export function benchLogger(env = benchEnv()) {
  return createLogger(env.logLevel);
}

/** flowyard's Kafka port, with the client KAFKA_CLIENT names. */
export function benchKafka(clientId, env = benchEnv(), logger = benchLogger(env)) {
  return createKafka(env.kafka, logger, clientId);
}

/**
 * kafkajs as the bench's own admin tool (deleting topics and groups, watching a group join):
 * calls the port does not offer because flowyard never makes them.
 */
export function benchAdmin(clientId, env = benchEnv(), logger = benchLogger(env)) {
  return createKafkaClient(env.kafka, logger, clientId).admin();
}

/** `<prefix>-<random>`: topic, group and Redis names no other run uses. */
export function uniqueName(prefix) {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves true once `condition` holds (checked now, then every `intervalMs`), false after
 * `timeoutMs`: flowyard's pollUntil (dist/resilience), so the bench polls as flowyard does.
 */
export function waitFor(condition, { intervalMs, timeoutMs }) {
  // No signal: the suite has no roles to stop; a wait ends by its condition or its timeout.
  return pollUntil(condition, { intervalMs, until: Date.now() + timeoutMs });
}

/**
 * A steady load: `records` to `topic` at `rate` per second, sending every 5 ms what is due
 * since the start. `producedAt[i]` gets the moment record i's batch was handed to the
 * producer. Returns the seconds it took and each send's duration in ms.
 */
export async function produceSteadily(producer, topic, records, rate, producedAt) {
  const total = records.length;
  const sendDurations = [];
  const t0 = Date.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) * rate) / 1000) + 1);
    if (due > sent) {
      const at = Date.now();
      producedAt.fill(at, sent, due);
      await produce(producer, topic, records.slice(sent, due));
      sendDurations.push(Date.now() - at);
      sent = due;
    }
    await sleep(5);
  }
  return { t0, seconds: (Date.now() - t0) / 1000, sendDurations };
}

/**
 * A topology YAML for the benchmarks. Sinks are declared as kafka sinks (the schema needs a
 * real type); the bench processes replace them with a LatencySink (createRoles' override).
 * A destination's `sink` (YAML flow text) declares another sink, e.g. figure 9's http sink.
 * `source` defaults to `<name>.events`; two plans may share one (the peers figure).
 * @param {{name: string, source?: string, mode: 'fanout'|'cascade', destinations: {name: string, concurrency?: number, ordering?: 'key'|'none'}[]}} spec
 */
export function topologyYaml({ name, source = `${name}.events`, mode, destinations, sequencer }) {
  const lines = [
    `name: ${name}`,
    `source: { topic: '${source}', format: json, key: customerId, id: eventId }`,
    `mode: ${mode}`,
    `partitions: ${PARTITIONS}`,
    'dedup: { ttlSeconds: 3600 }',
    'destinations:',
  ];
  for (const d of destinations) {
    lines.push(`  - name: ${d.name}`);
    lines.push(`    sink: ${d.sink ?? `{ type: kafka, topic: '${name}.sink.${d.name}' }`}`);
    if (d.concurrency !== undefined) lines.push(`    concurrency: ${d.concurrency}`);
    lines.push(`    ordering: ${d.ordering ?? 'key'}`);
  }
  if (sequencer) lines.push('ordering:', `  sequencer: { output: '${name}.sequenced', holdMs: ${sequencer.holdMs} }`);
  return `${lines.join('\n')}\n`;
}

/**
 * Runs an idempotent Kafka admin step again while the broker answers with a retriable error
 * (a topic just created is "not hosted" for a moment while its leaders are elected).
 */
export function retrying(step, attempts = 20) {
  return retryLimited(step, { attempts, waitMs: () => 250, retryIf: (error) => error?.retriable === true });
}

/**
 * Topic config of every topic a bench creates. The broker's default max.message.bytes (1 MiB)
 * is smaller than what the router writes for one consumed 1 MiB batch once it adds its
 * headers (~1.3x for 1 KiB events), and the router then retries that batch forever; see
 * bench/README.md. BENCH_MAX_MESSAGE_BYTES=0 keeps the broker default to show it.
 */
export const TOPIC_CONFIG = (() => {
  const bytes = process.env.BENCH_MAX_MESSAGE_BYTES ?? '8388608';
  return bytes === '0' ? {} : { 'max.message.bytes': bytes };
})();

/** Creates the plan's topics (and `extra` ones) with TOPIC_CONFIG, as `flowyard topics create` would otherwise. */
export async function createBenchTopics(kafka, plan, extra = []) {
  const specs = [
    ...plan.topics.map((t) => ({ name: t.name, partitions: t.purpose === 'source' ? plan.partitions : t.partitions, config: TOPIC_CONFIG })),
    ...extra.map((name) => ({ name, partitions: PARTITIONS, config: TOPIC_CONFIG })),
  ];
  await retrying(() => ensureTopics(kafka, specs));
}

/** Writes records to `topic` in chunks with one idempotent producer; returns ms taken. */
export async function fill(kafka, topic, records, chunk = 2_000) {
  const producer = await kafka.producer();
  const started = performance.now();
  try {
    for (let i = 0; i < records.length; i += chunk) await produce(producer, topic, records.slice(i, i + chunk));
  } finally {
    await producer.disconnect();
  }
  return performance.now() - started;
}

/** Sum of the committed offsets of `groupId` on `topics` (0 for partitions without a commit). */
/** Sum of the group's committed offsets over `topics` (a port's KafkaAdmin). */
export async function committedTotal(admin, groupId, topics) {
  let total = 0;
  for (const { offset } of await admin.committedOffsets(groupId, topics)) total += Math.max(0, Number(offset));
  return total;
}

/**
 * A destination that takes `latencyMs` per write and remembers how long each write really
 * took: the destination's own latency, the baseline of the end-to-end figures.
 */
export class LatencySink {
  constructor(latencyMs) {
    this.latencyMs = latencyMs;
    this.durations = [];
    this.writes = 0;
    this.firstWriteAt = undefined;
  }
  async start() {}
  async write(_record, signal) {
    const started = performance.now();
    this.firstWriteAt ??= started;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, this.latencyMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
    this.writes += 1;
    this.durations.push(performance.now() - started);
  }
  async close() {}
}

/**
 * An HTTP destination that answers 200 after `latencyMs` (a timer, once the body was read):
 * figure 9's 20 ms destination, the same for flowyard's http sink and the Java peer. Counts
 * requests, the most in flight and the in-flight integral per path (each system posts to its own), so a rate is read at
 * the destination, the same way for every system. `listen()` resolves to its base URL.
 */
export function httpDestination(latencyMs) {
  const byPath = new Map();
  const stats = (path) => {
    let s = byPath.get(path);
    if (!s) {
      // inFlightMs: the integral of requests in flight over time (ms), so a window's mean
      // concurrency is its increase / the window's length.
      s = { requests: 0, inFlight: 0, maxInFlight: 0, firstAt: undefined, inFlightMs: 0, changedAt: performance.now() };
      byPath.set(path, s);
    }
    return s;
  };
  const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
    const s = stats(request.url ?? '/');
    const advance = () => {
      const now = performance.now();
      s.inFlightMs += s.inFlight * (now - s.changedAt);
      s.changedAt = now;
    };
    s.firstAt ??= performance.now();
    advance();
    s.inFlight += 1;
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
    request.resume();
    request.once('end', () => {
      setTimeout(() => {
        advance();
        s.inFlight -= 1;
        s.requests += 1;
        response.writeHead(200, { 'content-length': '0' }).end();
      }, latencyMs);
    });
  });
  return {
    stats,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`));
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Counts Kafka requests by API of every producer and consumer the process makes from now on
 * (kafkajs instrumentation events, so with KAFKA_CLIENT=kafkajs only; other clients report
 * none), and Redis commands sent through `redis`: the round trips a role makes per event.
 */
export function countRoundTrips(redis) {
  const kafkaRequests = {};
  const redisCommands = {};
  onKafkajsRequest((kind, { apiName, duration, pendingDuration }) => {
    const key = `${kind}:${apiName}`;
    const entry = (kafkaRequests[key] ??= { count: 0, durationMs: 0, pendingMs: 0 });
    entry.count += 1;
    entry.durationMs += duration;
    entry.pendingMs += pendingDuration ?? 0;
  });
  if (redis) {
    // Commands, not round trips: the connection auto-pipelines commands issued in one tick.
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = (command, stream, ...rest) => {
      redisCommands[command.name] = (redisCommands[command.name] ?? 0) + 1;
      return send(command, stream, ...rest);
    };
  }
  return () => ({ kafkaRequests: roundObject(kafkaRequests), redisCommands: { ...redisCommands } });
}

function roundObject(requests) {
  return Object.fromEntries(
    Object.entries(requests)
      .sort(([, a], [, b]) => b.count - a.count)
      .map(([k, v]) => [k, { count: v.count, durationMs: Math.round(v.durationMs), pendingMs: Math.round(v.pendingMs) }]),
  );
}

/**
 * Samples the workers' in-flight and buffered gauges (flowyard_in_flight,
 * flowyard_buffered_records) every `everyMs`; the stop function returns the mean and max per
 * destination: whether the writers were kept busy, and how much work queued in front of them.
 */
export function sampleWorkerGauges(metrics, everyMs = 10) {
  const stats = new Map();
  const take = async () => {
    for (const [gauge, which] of [[metrics.inFlight, 'inFlight'], [metrics.buffered, 'buffered']]) {
      for (const { labels, value } of (await gauge.get()).values) {
        const entry = stats.get(labels.destination) ?? { inFlight: { sum: 0, n: 0, max: 0 }, buffered: { sum: 0, n: 0, max: 0 } };
        stats.set(labels.destination, entry);
        entry[which].sum += value;
        entry[which].n += 1;
        entry[which].max = Math.max(entry[which].max, value);
      }
    }
  };
  const timer = setInterval(() => void take(), everyMs);
  return () => {
    clearInterval(timer);
    const r = (x) => Math.round(x * 10) / 10;
    return Object.fromEntries(
      [...stats].map(([d, e]) => [d, { inFlightMean: r(e.inFlight.sum / e.inFlight.n), inFlightMax: e.inFlight.max, bufferedMean: r(e.buffered.sum / e.buffered.n), bufferedMax: e.buffered.max }]),
    );
  };
}

/** q-quantile (0..1) of an ascending array, nearest rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  const r = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);
  return { count: sorted.length, p50: r(quantile(sorted, 0.5)), p99: r(quantile(sorted, 0.99)), p999: r(quantile(sorted, 0.999)), max: r(sorted[sorted.length - 1]) };
}

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB, from /proc/<pid>/status. */
export function procMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  } catch {
    return { rssMiB: NaN, hwmMiB: NaN };
  }
}

/** Deletes the topics and consumer groups whose names start with `${name}.`, and the run's Redis keys. */
export async function cleanup(redis, name) {
  const admin = benchAdmin('bench-cleanup');
  await admin.connect();
  const deleted = { topics: 0, groups: 0, redisKeys: 0 };
  try {
    // Again after a pause: a topic whose creation was still under way when a run failed shows up late.
    for (let pass = 0; pass < 2; pass += 1) {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${name}.`));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
      deleted.topics += topics.length;
      if (pass === 0) await sleep(500);
    }
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${name}.`));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined); // a group still leaving is not worth failing the bench
    deleted.groups = groups.length;
  } finally {
    await admin.disconnect();
  }
  if (redis) {
    for (const pattern of [`fy:{${name}}:*`, `bench:${name}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5_000);
        cursor = next;
        if (keys.length > 0) deleted.redisKeys += await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  }
  return deleted;
}
