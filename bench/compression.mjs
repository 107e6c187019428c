/**
 * Which codec should flowyard's producers use by default? For none, gzip, snappy, lz4 and zstd
 * this writes the same flowyard-shaped events (sample orders, ~200 B of JSON each, with the
 * fy-* headers a hand-on copy carries) through flowyard's own producer (idempotent, acks=all,
 * 500 records a send) to a fresh topic on the local broker, reads them back with a group
 * consumer of the same Kafka port (KAFKA_CLIENT), and reports per codec:
 *   - produce and consume throughput (events/s, wall clock),
 *   - CPU per 1,000 events of this process and of the broker (from /proc/<pid>/stat; the broker
 *     validates, and with it decompresses, every compressed batch it is sent),
 *   - bytes the topic takes on the broker's disk (its log segments).
 * After one uncounted warm-up run, codecs run in a different order each round; the medians of ROUNDS rounds are printed and the
 * raw figures are written to bench/results/compression-<time>.json.
 * Usage: `make bench-compression` (builds, needs the local Kafka of infra/kafka.sh).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Buffer } from 'node:buffer';
import console from 'node:console';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { loadEnv } from '../dist/config/env.js';
import { sampleEvents } from '../dist/cli/sample-events.js';
import { createKafka } from '../dist/kafka/client.js';
import { COMPRESSIONS } from '../dist/kafka/compression.js';
import { produce } from '../dist/kafka/producer.js';
import { ensureTopics } from '../dist/kafka/topics.js';
import { createLogger } from '../dist/observability/logger.js';
import { benchAdmin, retrying, uniqueName } from './lib.mjs';

const EVENTS = Number(process.env.BENCH_COMPRESSION_EVENTS ?? 60_000);
const ROUNDS = Number(process.env.BENCH_COMPRESSION_ROUNDS ?? 3);
const PER_SEND = 500;
const PARTITIONS = 3;
const stateDir = process.env.FLOWYARD_STATE_DIR ?? join(process.cwd(), '.local');
const kafkaData = join(stateDir, 'kafka', 'data');
const brokerPid = Number(readFileSync(join(stateDir, 'kafka', 'kafka.pid'), 'utf8').trim());
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** The broker's user+system CPU so far, in ms. */
function brokerCpuMs() {
  const fields = readFileSync(`/proc/${brokerPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND; // utime, stime
}

const processCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

function topicBytes(topic) {
  let bytes = 0;
  for (const dir of readdirSync(kafkaData).filter((d) => d.startsWith(`${topic}-`))) {
    for (const file of readdirSync(join(kafkaData, dir)).filter((f) => f.endsWith('.log'))) bytes += statSync(join(kafkaData, dir, file)).size;
  }
  return bytes;
}

/** Runs `step` and returns wall ms and CPU ms of this process and of the broker. */
async function measured(step) {
  const start = { wall: performance.now(), cpu: processCpuMs(), broker: brokerCpuMs() };
  await step();
  return { wallMs: performance.now() - start.wall, cpuMs: processCpuMs() - start.cpu, brokerCpuMs: brokerCpuMs() - start.broker };
}

const env = loadEnv({ ...process.env, LOG_LEVEL: 'warn' });
const logger = createLogger('warn');
const source = { topic: 'unused', keyPath: ['customerId'], idPath: ['eventId'] };
const { records: events } = sampleEvents(source, { count: EVENTS, keys: 10_000 });
// What a hand-on copy carries besides the value (runtime/headers.ts): ids, plan, hop, time.
const records = events.map((r, i) => ({
  ...r,
  headers: { 'fy-event-id': `bench-${i}`, 'fy-plan': 'p-0123456789ab', 'fy-hop': 'billing', 'fy-attempt': '1', 'fy-ingest-ms': String(Date.now()) },
}));

async function runOnce(compression) {
  const kafka = await createKafka({ ...env.kafka, compression }, logger, `bench-${compression}`);
  const topic = uniqueName(`bench-codec-${compression}`);
  await retrying(() => ensureTopics(kafka, [{ name: topic, partitions: PARTITIONS }]));
  const producer = await kafka.producer();
  const produced = await measured(async () => {
    for (let at = 0; at < records.length; at += PER_SEND) await produce(producer, topic, records.slice(at, at + PER_SEND));
  });
  await producer.disconnect();
  let read = 0;
  let allRead = () => undefined;
  const everything = new Promise((resolve) => (allRead = resolve));
  const consumer = kafka.groupConsumer({
    groupId: uniqueName('bench-codec'),
    topics: [topic],
    commitMode: 'after-batch',
    maxBytesPerPartition: 1_048_576,
    handleBatch: async (batch) => {
      read += batch.length;
      if (read >= EVENTS) allRead();
    },
  });
  const consumed = await measured(async () => {
    await consumer.start();
    await everything;
  });
  consumer.stopFetching();
  await consumer.disconnect();
  const admin = benchAdmin(`bench-${compression}`);
  await admin.connect();
  const bytes = topicBytes(topic);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined); // a leftover bench topic is harmless
  await admin.disconnect();
  return { compression, produced, consumed, bytes };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const started = new Date();
const load = loadavg();
await runOnce('none'); // warm-up (JIT, connections, broker caches), not counted
const runs = [];
for (let round = 0; round < ROUNDS; round += 1) {
  const order = [...COMPRESSIONS.slice(round % COMPRESSIONS.length), ...COMPRESSIONS.slice(0, round % COMPRESSIONS.length)];
  for (const compression of order) runs.push({ round, ...(await runOnce(compression)) });
}

const rawBytes = records.reduce((sum, r) => sum + Buffer.byteLength(r.value) + Buffer.byteLength(r.key), 0);
console.log(`${EVENTS} events a run (${(rawBytes / EVENTS).toFixed(0)} B of key+value each, plus 5 headers), ${ROUNDS} rounds, load average before: ${load.map((l) => l.toFixed(2)).join(' ')}`);
console.log('codec   produce ev/s  consume ev/s  client CPU ms/1k ev (produce+consume)  broker CPU ms/1k ev  bytes on disk  vs none');
const summary = {};
const noneBytes = median(runs.filter((r) => r.compression === 'none').map((r) => r.bytes));
for (const compression of COMPRESSIONS) {
  const mine = runs.filter((r) => r.compression === compression);
  const figure = {
    produceEventsPerSecond: median(mine.map((r) => EVENTS / (r.produced.wallMs / 1000))),
    consumeEventsPerSecond: median(mine.map((r) => EVENTS / (r.consumed.wallMs / 1000))),
    clientCpuMsPer1k: median(mine.map((r) => ((r.produced.cpuMs + r.consumed.cpuMs) * 1000) / EVENTS)),
    brokerCpuMsPer1k: median(mine.map((r) => ((r.produced.brokerCpuMs + r.consumed.brokerCpuMs) * 1000) / EVENTS)),
    bytes: median(mine.map((r) => r.bytes)),
  };
  summary[compression] = figure;
  console.log(
    `${compression.padEnd(7)} ${figure.produceEventsPerSecond.toFixed(0).padStart(12)}  ${figure.consumeEventsPerSecond.toFixed(0).padStart(12)}  ` +
      `${figure.clientCpuMsPer1k.toFixed(1).padStart(37)}  ${figure.brokerCpuMsPer1k.toFixed(1).padStart(19)}  ${String(figure.bytes).padStart(13)}  ${(figure.bytes / noneBytes).toFixed(2)}×`,
  );
}
const file = `bench/results/compression-${started.toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z')}.json`;
writeFileSync(file, `${JSON.stringify({ started: started.toISOString(), events: EVENTS, rounds: ROUNDS, loadAverageBefore: load, summary, runs }, null, 2)}\n`);
console.log(`raw figures: ${file}`);
process.exit(0); // kafkajs keeps sockets open for a moment after disconnect
