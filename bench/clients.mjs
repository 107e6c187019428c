/**
 * The Kafka clients behind flowyard's port (src/kafka/port.ts), measured client-only on the
 * router's shape (issue #13 item 2): a group consumer reads a pre-filled topic (1 KiB JSON with
 * a random filler, 12 partitions, 10,000 keys), and per batch of one partition ONE transaction writes a copy of
 * every record to each of 3 topics, with 7 headers, plus the batch's offset (sendOffsets), then
 * commits. Nothing else runs: no Redis, no decoding, no plan. What differs between runs is only
 * KAFKA_CLIENT.
 *
 * Each client runs in a child process of its own (a native library must not share the process
 * with another client), after one uncounted warm-up round, in a rotated order per round. Per run:
 * events/s from the first batch to the last commit, the child's CPU per event over that window,
 * and the broker's CPU per event (from /proc). Medians of BENCH_CLIENTS_RUNS rounds (default 3),
 * ratios against kafkajs in the same round. Writes bench/results/clients-<time>.json.
 *
 * Usage: `make bench-clients` (builds, needs the local Kafka of infra/kafka.sh).
 *   BENCH_CLIENTS=kafkajs,confluent BENCH_CLIENTS_EVENTS=20000 node bench/clients.mjs
 */
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import console from 'node:console';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { loadEnv } from '../dist/config/env.js';
import { createKafka } from '../dist/kafka/client.js';
import { createLogger } from '../dist/observability/logger.js';
import { KEYS, median, PARTITIONS, retrying, uniqueName, VALUE_BYTES } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const EVENTS = Number(process.env.BENCH_CLIENTS_EVENTS ?? 100_000);
const RUNS = Number(process.env.BENCH_CLIENTS_RUNS ?? 3);
const CLIENTS = (process.env.BENCH_CLIENTS ?? 'kafkajs,confluent,platformatic').split(',').map((c) => c.trim());
/** A child that has not finished by then is stopped and reported as timed out. */
const RUN_TIMEOUT_MS = Number(process.env.BENCH_CLIENTS_TIMEOUT_MS ?? 180_000);
const OUTPUTS = 3;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const stateDir = process.env.FLOWYARD_STATE_DIR ?? join(process.cwd(), '.local');

const env = loadEnv({ ...process.env, LOG_LEVEL: 'warn', FLOWYARD_HTTP_PORT: '0' });
const logger = createLogger('warn');

const processCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

function brokerCpuMs() {
  const pid = Number(readFileSync(join(stateDir, 'kafka', 'kafka.pid'), 'utf8').trim());
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND; // utime, stime
}

const round = (n, digits = 0) => Number(n.toFixed(digits));

// ---- child: one client, one run ---------------------------------------------------------

/** The 7 headers of a router copy (runtime/headers.ts): ids, plan, key, seq, ingest time, kind, trace. */
function copyHeaders(record, index) {
  return {
    'fy-event-id': `bench-${record.partition}-${record.offset}`,
    'fy-plan': 'p-0123456789ab',
    'fy-key': record.key?.toString() ?? '',
    'fy-seq': String(index),
    'fy-ingest-ms': String(record.timestamp),
    'fy-kind': 'copy',
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
  };
}

async function child(client, input, outputs, ends) {
  const port = await createKafka({ ...env.kafka, client }, logger, `bench-${client}`);
  const producer = await port.producer({ transactionalId: `bench-clients-${client}-${randomUUID()}` });
  const remaining = new Map(Object.entries(ends).map(([p, end]) => [Number(p), BigInt(end)]));
  let events = 0;
  let transactions = 0;
  let started;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const consumer = port.groupConsumer({
    groupId: uniqueName(`bench-clients-${client}`),
    topics: [input],
    commitMode: 'manual',
    fromBeginning: true,
    handleBatch: async (records) => {
      started ??= { wall: performance.now(), cpu: processCpuMs() };
      const copies = records.map((record, i) => ({ key: record.key, value: record.value, headers: copyHeaders(record, i) }));
      const last = records[records.length - 1];
      const transaction = await producer.transaction();
      try {
        await transaction.send(outputs.map((topic) => ({ topic, records: copies })));
        await transaction.sendOffsets(consumer, [{ topic: input, partition: last.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        await transaction.commit();
      } catch (error) {
        await transaction.abort().catch(() => undefined);
        throw error;
      }
      transactions += 1;
      events += records.length;
      if (BigInt(last.offset) + 1n >= (remaining.get(last.partition) ?? 0n)) remaining.delete(last.partition);
      if (remaining.size === 0) finish();
    },
  });
  await consumer.start();
  await finished;
  const wallMs = performance.now() - started.wall;
  const cpuMs = processCpuMs() - started.cpu;
  consumer.stopFetching();
  await consumer.disconnect();
  await producer.disconnect();
  process.stdout.write(`${JSON.stringify({ client, events, transactions, wallMs, cpuMs })}\n`);
}

// ---- parent: topics, fill, rounds -------------------------------------------------------

function runChild(client, input, outputs, ends) {
  return new Promise((resolve) => {
    const brokerBefore = brokerCpuMs();
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', client, input, outputs.join(','), JSON.stringify(ends)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), RUN_TIMEOUT_MS);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{"client"'));
      const brokerMs = brokerCpuMs() - brokerBefore;
      if (line === undefined) {
        resolve({ client, error: signal === 'SIGKILL' ? `timed out after ${RUN_TIMEOUT_MS / 1000} s` : `exit ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}` });
        return;
      }
      const r = JSON.parse(line);
      resolve({
        client,
        events: r.events,
        transactions: r.transactions,
        eventsPerSec: round((r.events * 1000) / r.wallMs),
        cpuMsPerEvent: round(r.cpuMs / r.events, 3),
        brokerCpuMsPerEvent: round(brokerMs / r.events, 3),
        eventsPerTransaction: round(r.events / r.transactions, 1),
      });
    });
  });
}

async function fillInput(port, topic) {
  const producer = await port.producer();
  // Random filler, not repeated characters: with lz4 (the default) a repeated filler would shrink a
  // partition's whole backlog into one 1 MiB fetch, and the run would measure 12 transactions.
  const value = (i) => {
    const event = { eventId: `e-${i}`, customerId: `c-${i % KEYS}`, amount: i % 1000, padding: '' };
    event.padding = randomBytes(VALUE_BYTES).toString('base64').slice(0, VALUE_BYTES - JSON.stringify(event).length);
    return Buffer.from(JSON.stringify(event));
  };
  const CHUNK = 2_000;
  for (let from = 0; from < EVENTS; from += CHUNK) {
    const records = [];
    for (let i = from; i < Math.min(EVENTS, from + CHUNK); i += 1) records.push({ key: `c-${i % KEYS}`, value: value(i) });
    await producer.send([{ topic, records }]);
  }
  await producer.disconnect();
}

async function parent() {
  const port = await createKafka(env.kafka, logger, 'bench-clients');
  const admin = port.admin();
  const input = uniqueName('bench-clients-in');
  const outputs = Array.from({ length: OUTPUTS }, (_, i) => `${input}-out${i}`);
  await retrying(() => admin.createTopics([input, ...outputs].map((name) => ({ name, partitions: PARTITIONS, replicationFactor: -1, config: {} }))));
  await fillInput(port, input);
  const ends = Object.fromEntries((await admin.watermarks(input)).map((w) => [w.partition, w.high]));
  await admin.disconnect();
  const loadBefore = loadavg().map((l) => round(l, 2));
  console.log(`bench clients: ${EVENTS} events of ${VALUE_BYTES} B on ${PARTITIONS} partitions -> ${OUTPUTS} topics, one transaction per partition batch; clients ${CLIENTS.join(', ')}; ${RUNS} rounds after a warm-up`);

  const warmup = [];
  for (const client of CLIENTS) warmup.push(await runChild(client, input, outputs, ends));
  for (const w of warmup) console.log(`[warm-up] ${w.client}: ${w.error ?? `${w.eventsPerSec} events/s`}`);
  const rounds = [];
  for (let r = 0; r < RUNS; r += 1) {
    const order = CLIENTS.map((_, i) => CLIENTS[(i + r) % CLIENTS.length]);
    const results = [];
    for (const client of order) {
      const result = await runChild(client, input, outputs, ends);
      results.push({ ...result, load: loadavg().map((l) => round(l, 2)) });
      console.log(`[round ${r + 1}] ${client}: ${result.error ?? `${result.eventsPerSec} events/s, ${result.cpuMsPerEvent} CPU ms/event, broker ${result.brokerCpuMsPerEvent} ms/event, ${result.eventsPerTransaction} events/transaction`}`);
    }
    const base = results.find((x) => x.client === 'kafkajs' && x.eventsPerSec);
    for (const x of results) if (base && x.eventsPerSec) x.vsKafkajs = round(x.eventsPerSec / base.eventsPerSec, 3);
    rounds.push(results);
  }

  const summary = CLIENTS.map((client) => {
    const runs = rounds.map((results) => results.find((x) => x.client === client));
    const ok = runs.filter((x) => x?.eventsPerSec);
    return {
      client,
      eventsPerSec: ok.length ? median(ok.map((x) => x.eventsPerSec)) : undefined,
      runs: runs.map((x) => x?.eventsPerSec ?? x?.error),
      vsKafkajs: ok.length ? median(ok.map((x) => x.vsKafkajs ?? 1)) : undefined,
      cpuMsPerEvent: ok.length ? median(ok.map((x) => x.cpuMsPerEvent)) : undefined,
      brokerCpuMsPerEvent: ok.length ? median(ok.map((x) => x.brokerCpuMsPerEvent)) : undefined,
    };
  });
  const loadAfter = loadavg().map((l) => round(l, 2));
  console.log(`\nmedians of ${RUNS} rounds; load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')} (2 cores)`);
  console.log(`${'client'.padEnd(14)}${'events/s'.padEnd(11)}${'vs kafkajs'.padEnd(12)}${'CPU ms/ev'.padEnd(11)}${'broker ms/ev'.padEnd(14)}runs`);
  for (const s of summary) {
    console.log(`${s.client.padEnd(14)}${String(s.eventsPerSec ?? '-').padEnd(11)}${String(s.vsKafkajs === undefined ? '-' : `${s.vsKafkajs}x`).padEnd(12)}${String(s.cpuMsPerEvent ?? '-').padEnd(11)}${String(s.brokerCpuMsPerEvent ?? '-').padEnd(14)}${s.runs.join(', ')}`);
  }
  const at = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, 'Z');
  const file = join(here, 'results', `clients-${at}.json`);
  writeFileSync(file, `${JSON.stringify({ at, events: EVENTS, partitions: PARTITIONS, outputs: OUTPUTS, loadBefore, loadAfter, warmup, rounds, summary }, null, 2)}\n`);
  console.log(`raw: ${file}`);
  const failed = summary.filter((s) => s.eventsPerSec === undefined).map((s) => s.client);
  if (failed.length > 0) {
    console.error(`no successful run of: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

if (process.argv[2] === 'child') {
  const [, , , client, input, outputs, ends] = process.argv;
  await child(client, input, outputs.split(','), JSON.parse(ends));
  process.exit(0);
} else {
  await parent();
}
