/**
 * The benchmark suite, started by bench/run.mjs from a snapshot of dist/ (see there):
 * flowyard's figures against baselines measured in the same run, on the local
 * broker and Redis (bench/README.md has the method and the last results).
 *
 *   1. router throughput, fan-out to 3 destinations   vs a plain consume->produce pass-through
 *   2. one worker, 20 ms destination, concurrency 64    vs the same worker at concurrency 1
 *   3. end-to-end p50/p99 at a steady rate, 5/20/50 ms  vs the destinations' own p99 (fan-out: slowest; cascade: sum)
 *   4. peak RSS of the flowyard process under load 3    vs its RSS after start-up
 *   5. 20 ms destination, 8 hot keys, c=64: `ordering: none` + sequencer   vs `ordering: key`
 *      (backlog throughput, and p50/p99 to the output at a steady rate both sustain)
 *   6. router + workers into REAL kafka sinks, fan-out x3 (BENCH_ONLY=kafkasink, not in the
 *      default set): the transactional path vs the generic worker's per-record kafka sink
 *   7. (peers) fan-out x3 throughput next to Java peers in the same run: plain Java copy,
 *      Kafka Streams at_least_once / exactly_once_v2 (1 and 2 stream threads), flowyard router
 *      alone, router + REAL kafka-sink workers (a process per role and destination, as the Helm
 *      chart deploys it); ratios vs Kafka Streams EOS v2 (bench/peers.mjs)
 *   8. (latency) produce -> record in each of 3 REAL kafka sink topics (read_committed) at a
 *      steady rate: flowyard vs Kafka Streams exactly_once_v2 (bench/peers.mjs)
 *
 * `make bench` runs 7, 8 and 9 (BENCH_ONLY default `peers,latency,http`); 1-6 by name, e.g.
 * BENCH_ONLY=router,worker,e2e,sequencer. BENCH_QUICK=1: one run, 10,000 events, 10 s of load.
 *
 * Every figure is the median of BENCH_RUNS runs (default 3); each run uses topics, groups and
 * Redis keys of its own (random suffix), deleted afterwards. Raw results go to
 * bench/results/<ISO time>.json, a summary to stdout, child logs to bench/results/<ISO time>.log.
 *
 * Knobs (environment): BENCH_RUNS, BENCH_ONLY=router,worker,e2e,sequencer, BENCH_ROUTER_EVENTS,
 * BENCH_ROUTER_TIMEOUT_MS, BENCH_WORKER_EVENTS, BENCH_E2E_SECONDS, BENCH_E2E_RATE,
 * BENCH_E2E_MODES=fanout,cascade, BENCH_E2E_DRAIN_MS, BENCH_SEQ_BACKLOG, BENCH_SEQ_RATE,
 * BENCH_SEQ_SECONDS, BENCH_KAFKASINK_EVENTS, BENCH_KAFKASINK_GENERIC_EVENTS, BENCH_MAX_MESSAGE_BYTES (0 = broker
 * default), BENCH_PROFILE=1 (node --cpu-prof of every measured process into
 * bench/results/profiles/), LOG_LEVEL (children; default warn), BENCH_PEERS_EVENTS,
 * BENCH_PEERS_TIMEOUT_MS, BENCH_LATENCY_RATE, BENCH_LATENCY_SECONDS, BENCH_LATENCY_DRAIN_MS, BENCH_QUICK=1,
 * BENCH_FLOWYARD_PROCESSES=per-role,1 (figures 7 and 8: flowyard as the Helm chart runs it, a
 * process per role and destination, and/or all in one process), BENCH_STREAMS_THREADS=1,2
 * (Kafka Streams' num.stream.threads in figures 7 and 8; 1 always runs).
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { sampleEvents } from '../dist/cli/sample-events.js';
import { produce } from '../dist/kafka/producer.js';
import { parseCompletion } from '../dist/runtime/completion.js';
import { HEADER } from '../dist/runtime/headers.js';
import { newTraceparent, toHeaders } from '../dist/runtime/headers.js';
import { closeSharedClients, createSharedClients } from '../dist/runtime/shared.js';
import { parseTopology } from '../dist/topology/load.js';
import { FLOWYARD_PROCESSES, createPeers } from './peers.mjs';
import { KEYS, PARTITIONS, TOPIC_CONFIG, VALUE_BYTES, benchEnv, benchLogger, cleanup, createBenchTopics, fill, median, procMemory, produceSteadily, sleep, summarize, topologyYaml, uniqueName, waitFor } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
/** The checkout (results, versions); `here` may be a snapshot made by bench/run.mjs. */
const repo = process.env.BENCH_REPO ?? join(here, '..');
const int = (name, fallback) => (process.env[name] ? Number.parseInt(process.env[name], 10) : fallback);
/** BENCH_QUICK=1: a short run to see that everything works, not figures to quote. */
const QUICK = process.env.BENCH_QUICK === '1';
/** A comma-separated knob; `check` names what is wrong with a value, or returns undefined. */
function list(name, fallback, check) {
  const values = (process.env[name] ?? fallback).split(',').map((s) => s.trim()).filter((s) => s !== '');
  const wrong = values.map(check).filter((problem) => problem !== undefined);
  if (values.length === 0 || wrong.length > 0) {
    process.stderr.write(`bench: ${name}=${process.env[name]}: ${wrong.join('; ') || 'empty'}\n`);
    process.exit(2);
  }
  return [...new Set(values)];
}

const CONFIG = {
  runs: int('BENCH_RUNS', QUICK ? 1 : 3),
  quick: QUICK,
  only: new Set((process.env.BENCH_ONLY ?? 'peers,latency,http').split(',').map((s) => s.trim())),
  valueBytes: VALUE_BYTES,
  keys: KEYS,
  partitions: PARTITIONS,
  topicConfig: TOPIC_CONFIG,
  router: { events: int('BENCH_ROUTER_EVENTS', 30_000), timeoutMs: int('BENCH_ROUTER_TIMEOUT_MS', 180_000) },
  worker: { events: int('BENCH_WORKER_EVENTS', 30_000), latencyMs: 20, concurrency: 64, baselineConcurrency: 1, warmupMs: 1_000, windowMs: 10_000 },
  e2e: {
    rate: int('BENCH_E2E_RATE', 1_000),
    modes: (process.env.BENCH_E2E_MODES ?? 'fanout,cascade').split(',').map((s) => s.trim()),
    seconds: int('BENCH_E2E_SECONDS', 30),
    /** Events produced in the first seconds are left out of the percentiles (JIT, first fetches). */
    warmupSeconds: 2,
    latencies: { d5: 5, d20: 20, d50: 50 },
    /** Enough slots for 1,000/s at 50 ms with headroom (Little: 1,000/s x 0.05 s = 50 in flight). */
    concurrency: 128,
    /** After the load, wait this long for the last completions; events still missing count as censored. */
    drainTimeoutMs: int('BENCH_E2E_DRAIN_MS', 10_000),
  },
  sequencer: {
    keys: 8,
    latencyMs: 20,
    concurrency: 64,
    holdMs: 2_000,
    /** Events queued at once for the throughput figure. */
    backlog: int('BENCH_SEQ_BACKLOG', 6_000),
    /** Below what `ordering: key` can do on 8 keys (8 x 1 / 20 ms = 400/s), so both variants keep up. */
    rate: int('BENCH_SEQ_RATE', 150),
    seconds: int('BENCH_SEQ_SECONDS', 10),
    warmupSeconds: 2,
    drainTimeoutMs: 10_000,
    backlogTimeoutMs: 120_000,
  },
  kafkaSink: {
    events: int('BENCH_KAFKASINK_EVENTS', 30_000),
    /** The generic path did ~600 events/s: fewer events keep its run short; the rate is what is compared. */
    genericEvents: int('BENCH_KAFKASINK_GENERIC_EVENTS', 6_000),
    timeoutMs: int('BENCH_ROUTER_TIMEOUT_MS', 180_000),
  },
  /** Figure 7: the issue's workload (100k events pre-filled); a system not done by the timeout is rated on what it did. */
  peers: { events: int('BENCH_PEERS_EVENTS', QUICK ? 10_000 : 100_000), timeoutMs: int('BENCH_PEERS_TIMEOUT_MS', 120_000) },
  /** Figure 9: one consumer, 20 ms HTTP destination (lib.mjs httpDestination), flowyard's worker vs Parallel Consumer; figure 2's window. */
  http: { events: int('BENCH_HTTP_EVENTS', QUICK ? 10_000 : 40_000), latencyMs: 20, concurrency: 64, warmupMs: 1_000, windowMs: QUICK ? 5_000 : 10_000 },
  /** Figure 8: steady fan-out into real kafka sinks. */
  latency: { rate: int('BENCH_LATENCY_RATE', 1_000), seconds: int('BENCH_LATENCY_SECONDS', QUICK ? 10 : 30), warmupSeconds: 2, drainTimeoutMs: int('BENCH_LATENCY_DRAIN_MS', 15_000) },
  targets: { kafkaSinksVsEos: 0.5, httpVsParallelConsumer: 0.95, routerVsEos: 1.0, latencyP99Ms: 250, routerRatio: 0.7, workerWritesPerSec: 2_000, fanoutP99SlackMs: 25, cascadeP99SlackMs: 25, peakRssMiB: 300 },
  profile: process.env.BENCH_PROFILE === '1',
  /** Figures 7 and 8: flowyard as the Helm chart runs it (`per-role`: router and each destination's worker in processes of their own) and/or all in one process (`1`). */
  flowyardProcesses: list('BENCH_FLOWYARD_PROCESSES', 'per-role', (v) => (FLOWYARD_PROCESSES.includes(v) ? undefined : `'${v}' is not one of ${FLOWYARD_PROCESSES.join(', ')}`)),
  /** Figures 7 and 8: Kafka Streams EOS v2 with these num.stream.threads; 1 (its default, the issue's baseline and the ratios' denominator) always runs. */
  streamsThreads: [1, ...list('BENCH_STREAMS_THREADS', '1,2', (v) => (/^[1-9]\d?$/.test(v) ? undefined : `'${v}' is not a thread count (1-99)`)).map(Number).filter((n) => n !== 1)],
};

const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
const resultsDir = join(repo, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const logPath = join(resultsDir, `${stamp}.log`);
const logFd = openSync(logPath, 'a');
const profileDir = join(resultsDir, 'profiles', stamp);

const say = (line = '') => process.stdout.write(`${line}\n`);
const round = (x, digits = 1) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

// ---- measured child processes ------------------------------------------------------------

/** Forks bench/measure.mjs in `mode`, hands it `job`; `onMessage` sees its other messages; `label` names its profile. */
/** `dir`: the bench/ directory whose measure.mjs runs (BENCH_BASE_DIR's for the base build). */
function measure(mode, job, onMessage = () => undefined, label = mode, dir = here) {
  const execArgv = CONFIG.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${label}-${Date.now()}.cpuprofile`] : [];
  if (CONFIG.profile) mkdirSync(profileDir, { recursive: true });
  const child = fork(join(dir, 'measure.mjs'), [mode], { stdio: ['ignore', logFd, logFd, 'ipc'], execArgv });
  const result = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.type === 'result') resolve(message.result);
      else if (message.type === 'error') reject(new Error(`${mode}: ${message.error}`));
      else onMessage(message, child);
    });
    child.on('exit', (code) => reject(new Error(`${mode} exited with ${code} before reporting (see ${logPath})`)));
  });
  result.catch(() => undefined); // awaited by the caller; a crash before that must not end the bench
  child.send(job);
  return { child, result };
}

// ---- 1. router throughput ------------------------------------------------------------------

async function routerRun(shared, run) {
  const name = uniqueName('bench-router');
  const yaml = topologyYaml({ name, mode: 'fanout', destinations: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const source = plan.source.topics[0];
  const plain = ['a', 'b', 'c'].map((d) => `${name}.pt.${d}`);
  const headed = ['a', 'b', 'c'].map((d) => `${name}.pth.${d}`);
  const txn = ['a', 'b', 'c'].map((d) => `${name}.ptx.${d}`);
  try {
    await createBenchTopics(shared.kafka, plan, [...plain, ...headed, ...txn]);
    const { records } = sampleEvents(plan.source, { count: CONFIG.router.events, keys: KEYS, valueBytes: VALUE_BYTES, runId: name });
    const fillMs = await fill(shared.kafka, source, records);
    const expected = records.length;
    const jobs = {
      passthrough: () => measure('passthrough', { source, outputs: plain, group: `${name}.passthrough`, expected, transactional: false, timeoutMs: CONFIG.router.timeoutMs }, undefined, 'passthrough').result,
      router: () => measure('router', { yaml, expected, timeoutMs: CONFIG.router.timeoutMs }).result,
      passthroughHeaders: () =>
        measure('passthrough', { source, outputs: headed, group: `${name}.passthrough-headers`, expected, transactional: false, withHeaders: true, timeoutMs: CONFIG.router.timeoutMs }, undefined, 'passthrough-headers').result,
      passthroughTxn: () => measure('passthrough', { source, outputs: txn, group: `${name}.passthrough-txn`, expected, transactional: true, timeoutMs: CONFIG.router.timeoutMs }, undefined, 'passthrough-txn').result,
    };
    // Alternate who goes first, so page cache or broker warm-up favour neither side.
    const order = run % 2 === 0 ? ['passthrough', 'router', 'passthroughHeaders', 'passthroughTxn'] : ['router', 'passthrough', 'passthroughTxn', 'passthroughHeaders'];
    const out = { name, events: expected, fillMs: round(fillMs), order, load: os.loadavg().map((l) => round(l, 2)) };
    for (const which of order) out[which] = await jobs[which]();
    out.ratio = out.router.eventsPerSec / out.passthrough.eventsPerSec;
    out.ratioVsTransactionalPassthrough = out.router.eventsPerSec / out.passthroughTxn.eventsPerSec;
    out.ratioVsPassthroughWithHeaders = out.router.eventsPerSec / out.passthroughHeaders.eventsPerSec;
    return out;
  } finally {
    await cleanup(shared.redis, name);
  }
}

// ---- 2. worker at concurrency 64 vs 1 ------------------------------------------------------

/** Routed copies as the router would write them (flowyard headers, keyed by the causal key). */
function routedCopies(plan, count, runId) {
  const { records, eventIds } = sampleEvents(plan.source, { count, keys: KEYS, valueBytes: VALUE_BYTES, runId });
  const seqs = new Map();
  const ingestedAt = Date.now();
  return records.map((record, i) => {
    const seq = (seqs.get(record.key) ?? 0) + 1;
    seqs.set(record.key, seq);
    return { ...record, headers: toHeaders({ plan: plan.id, eventId: eventIds[i], key: record.key, seq, ingestedAt, traceparent: newTraceparent() }) };
  });
}

async function workerRun(shared) {
  const name = uniqueName('bench-worker');
  const { concurrency, baselineConcurrency, latencyMs, warmupMs, windowMs, events } = CONFIG.worker;
  const yaml = topologyYaml({
    name,
    mode: 'fanout',
    destinations: [
      { name: 'wide', concurrency, ordering: 'key' },
      { name: 'single', concurrency: baselineConcurrency, ordering: 'key' },
    ],
  });
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const input = (d) => plan.destinations.find((x) => x.name === d).inputTopic;
  try {
    await createBenchTopics(shared.kafka, plan);
    // The baseline writes about 1 / 20 ms = 50/s: a few seconds' worth is plenty.
    const baselineEvents = Math.ceil(((warmupMs + windowMs) / 1000) * (baselineConcurrency * 1000 / latencyMs) * 2);
    const fillMs = (await fill(shared.kafka, input('wide'), routedCopies(plan, events, `${name}-w`))) + (await fill(shared.kafka, input('single'), routedCopies(plan, baselineEvents, `${name}-s`)));
    const job = (destination) => ({ yaml, destination, latencyMs, warmupMs, windowMs });
    const wide = await measure('worker', job('wide'), undefined, 'worker-c64').result;
    const single = await measure('worker', job('single'), undefined, 'worker-c1').result;
    const ranOut = wide.totalWrites >= events;
    return { name, events, baselineEvents, fillMs: round(fillMs), load: os.loadavg().map((l) => round(l, 2)), wide, single, speedup: wide.writesPerSec / single.writesPerSec, ...(ranOut && { warning: 'the backlog ran out before the window closed: raise BENCH_WORKER_EVENTS' }) };
  } finally {
    await cleanup(shared.redis, name);
  }
}

// ---- 3 + 4. end-to-end latency and peak RSS -----------------------------------------------

async function e2eRun(shared, mode) {
  const { rate, seconds, warmupSeconds, latencies, concurrency, drainTimeoutMs } = CONFIG.e2e;
  const name = uniqueName(`bench-e2e-${mode}`);
  const destinations = Object.keys(latencies);
  const yaml = topologyYaml({ name, mode, destinations: destinations.map((d) => ({ name: d, concurrency, ordering: 'key' })) });
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const total = rate * seconds;
  const { records } = sampleEvents(plan.source, { count: total, keys: KEYS, valueBytes: VALUE_BYTES, runId: name });
  const prefix = `${name}-`;
  const producedAt = new Float64Array(total);
  const ingestedAt = new Float64Array(total);
  const lastAt = new Float64Array(total);
  const doneAt = Object.fromEntries(destinations.map((d) => [d, new Float64Array(total)]));
  const seen = new Uint8Array(total);
  const bit = Object.fromEntries(destinations.map((d, i) => [d, 1 << i]));
  const all = (1 << destinations.length) - 1;
  let complete = 0;
  let failed = 0;
  let flowyard;
  let tail;
  try {
    await createBenchTopics(shared.kafka, plan);
    tail = await shared.kafka.tail([plan.completionsTopic], (record) => {
      const c = parseCompletion(record);
      if (!c || !c.eventId.startsWith(prefix)) return;
      const i = Number(c.eventId.slice(prefix.length));
      if (c.status !== 'ok') failed += 1;
      if (seen[i] & bit[c.destination]) return; // a repeated hand-on: the first one counts
      seen[i] |= bit[c.destination];
      doneAt[c.destination][i] = c.at;
      ingestedAt[i] = c.ingestedAt;
      lastAt[i] = Math.max(lastAt[i], c.at);
      if (seen[i] === all) complete += 1;
    });

    let ready;
    const readyNow = new Promise((resolve) => (ready = resolve));
    flowyard = measure('flowyard', { yaml, latencies }, (message) => message.type === 'ready' && ready(message), `flowyard-${mode}`);
    const startup = await Promise.race([readyNow, flowyard.result.then(() => ({}))]);
    const pid = flowyard.child.pid;
    let peakSampledRss = 0;
    const sampler = setInterval(() => (peakSampledRss = Math.max(peakSampledRss, procMemory(pid).rssMiB || 0)), 250);

    // Steady load; the produce time of an event is the moment its batch is handed to the producer.
    const producer = await shared.kafka.producer();
    const source = plan.source.topics[0];
    const { t0, seconds: produceSeconds, sendDurations } = await produceSteadily(producer, source, records, rate, producedAt);
    await producer.disconnect();

    await waitFor(() => complete >= total, { intervalMs: 100, timeoutMs: drainTimeoutMs });
    clearInterval(sampler);
    const memory = procMemory(pid);
    flowyard.child.send({ type: 'stop' });
    const child = await flowyard.result;

    // Events still incomplete when the drain wait ended count with their latency so far (a
    // lower bound): a percentile that falls on one of them is reported as censored (">=").
    const drainEnd = Date.now();
    const from = t0 + warmupSeconds * 1000;
    const measured = [];
    for (let i = 0; i < total; i += 1) if (producedAt[i] >= from) measured.push(i);
    const latency = (pick) => summarize(measured.filter((i) => pick(i) > 0).map((i) => pick(i) - producedAt[i]));
    const incomplete = measured.filter((i) => seen[i] !== all).length;
    const endToEnd = {
      ...summarize(measured.map((i) => (seen[i] === all ? lastAt[i] : drainEnd) - producedAt[i])),
      incomplete,
      censored: incomplete > 0 ? { p50: incomplete >= measured.length * 0.5, p99: incomplete >= measured.length * 0.01 } : undefined,
    };
    // Completions per second each destination sustained while the load ran (after warm-up).
    const loadEnd = t0 + produceSeconds * 1000;
    const sustained = Object.fromEntries(
      destinations.map((d) => {
        let n = 0;
        for (let i = 0; i < total; i += 1) if (doneAt[d][i] >= from && doneAt[d][i] <= loadEnd) n += 1;
        return [d, round(n / ((loadEnd - from) / 1000))];
      }),
    );
    const calibrated = startup.calibrated ?? child.calibrated;
    const sinkP99 = destinations.map((d) => calibrated[d]?.p99 ?? NaN);
    const bound = mode === 'fanout' ? Math.max(...sinkP99) : sinkP99.reduce((a, b) => a + b, 0);
    return {
      name,
      mode,
      events: total,
      completeEvents: complete,
      failedCompletions: failed,
      produceSeconds: round(produceSeconds, 2),
      achievedRate: round(total / produceSeconds),
      producerSendMs: summarize(sendDurations),
      load: os.loadavg().map((l) => round(l, 2)),
      endToEnd,
      routerHop: latency((i) => ingestedAt[i]),
      // From the router's fy-ingested-at on: what the workers (and the hops between them) add.
      afterRouter: {
        endToEnd: summarize(measured.filter((i) => seen[i] === all).map((i) => lastAt[i] - ingestedAt[i])),
        ...Object.fromEntries(destinations.map((d) => [d, summarize(measured.filter((i) => doneAt[d][i] > 0).map((i) => doneAt[d][i] - ingestedAt[i]))])),
      },
      perDestination: Object.fromEntries(destinations.map((d) => [d, latency((i) => doneAt[d][i])])),
      sustainedPerSec: sustained,
      destinationLatencyIdle: calibrated,
      sinksUnderLoad: child.sinks,
      eventLoopDelayMs: child.eventLoopDelayMs,
      workerOccupancy: child.occupancy,
      baselineP99: round(bound, 2),
      overBaselineP99: round(endToEnd.p99 - bound, 2),
      rss: { startupMiB: round(startup.memory?.rssMiB), peakSampledMiB: round(peakSampledRss), peakHwmMiB: round(memory.hwmMiB) },
      childCpuSeconds: round(child.cpuSeconds, 2),
      roundTrips: child.roundTrips,
    };
  } finally {
    if (flowyard && flowyard.child.exitCode === null) flowyard.child.kill('SIGTERM');
    await tail?.stop().catch(() => undefined);
    await cleanup(shared.redis, name);
  }
}

// ---- 5. ordering none + sequencer vs ordering key on hot keys -------------------------------

/**
 * One destination of 20 ms at concurrency 64 and 8 hot keys. `key`: ordering key, router and
 * worker, an event is out when its destination completion is written. `sequencer`: ordering
 * none, plus tracker and sequencer, an event is out when a read_committed reader of the
 * sequenced output receives it. First a steady rate both keep up with (latency), then a
 * backlog produced at once (throughput: backlog / time until the last one is out).
 */
async function sequencerRun(shared, variant) {
  const { keys, latencyMs, concurrency, holdMs, backlog, rate, seconds, warmupSeconds, drainTimeoutMs, backlogTimeoutMs } = CONFIG.sequencer;
  const sequenced = variant === 'sequencer';
  const name = uniqueName(`bench-seq-${variant}`);
  const yaml = topologyYaml({ name, mode: 'fanout', destinations: [{ name: 'hot', concurrency, ordering: sequenced ? 'none' : 'key' }], ...(sequenced && { sequencer: { holdMs } }) });
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const steady = rate * seconds;
  const total = steady + backlog;
  const { records } = sampleEvents(plan.source, { count: total, keys, valueBytes: VALUE_BYTES, runId: name });
  const prefix = `${name}-`;
  const producedAt = new Float64Array(total);
  const outAt = new Float64Array(total);
  const lastIndex = new Map();
  let out = 0;
  let repeated = 0;
  let outOfOrder = 0;
  const mark = (eventId, key, at) => {
    if (!eventId?.startsWith(prefix)) return;
    const i = Number(eventId.slice(prefix.length));
    if (outAt[i] > 0) {
      repeated += 1;
      return;
    }
    outAt[i] = at;
    out += 1;
    if ((lastIndex.get(key) ?? -1) > i) outOfOrder += 1; // per key the index is the source order
    lastIndex.set(key, i);
  };
  let flowyard;
  let tail;
  try {
    await createBenchTopics(shared.kafka, plan);
    tail = sequenced
      ? await shared.kafka.tail([plan.sequencer.output], (record) => mark(record.headers[HEADER.eventId], record.headers[HEADER.key], Date.now()))
      : await shared.kafka.tail([plan.completionsTopic], (record) => {
          const c = parseCompletion(record);
          if (c?.status === 'ok') mark(c.eventId, c.key, c.at);
        });
    let ready;
    const readyNow = new Promise((resolve) => (ready = resolve));
    const roles = sequenced ? ['router', 'worker', 'tracker', 'sequencer'] : ['router', 'worker'];
    flowyard = measure('flowyard', { yaml, latencies: { hot: latencyMs }, roles }, (message) => message.type === 'ready' && ready(message), `flowyard-seq-${variant}`);
    await Promise.race([readyNow, flowyard.result.then(() => ({}))]);

    const producer = await shared.kafka.producer();
    const source = plan.source.topics[0];
    const { t0 } = await produceSteadily(producer, source, records.slice(0, steady), rate, producedAt);
    await waitFor(() => out >= steady, { intervalMs: 50, timeoutMs: drainTimeoutMs });
    const from = t0 + warmupSeconds * 1000;
    const measured = [];
    for (let i = 0; i < steady; i += 1) if (producedAt[i] >= from) measured.push(i);
    const steadyMissing = measured.filter((i) => outAt[i] === 0).length;
    const latency = summarize(measured.filter((i) => outAt[i] > 0).map((i) => outAt[i] - producedAt[i]));

    const b0 = Date.now();
    producedAt.fill(b0, steady, total);
    for (let i = steady; i < total; i += 2_000) await produce(producer, source, records.slice(i, Math.min(total, i + 2_000)));
    await producer.disconnect();
    await waitFor(() => out >= total, { intervalMs: 50, timeoutMs: Math.max(0, b0 + backlogTimeoutMs - Date.now()) });
    let lastOut = 0;
    for (let i = steady; i < total; i += 1) lastOut = Math.max(lastOut, outAt[i]);
    const backlogOut = outAt.subarray(steady).filter((t) => t > 0).length;
    await sleep(500); // a repeat would land now
    flowyard.child.send({ type: 'stop' });
    const child = await flowyard.result;
    return {
      name,
      variant,
      load: os.loadavg().map((l) => round(l, 2)),
      steady: { rate, seconds, events: steady, latency, missing: steadyMissing },
      backlog: { events: backlog, out: backlogOut, seconds: round((lastOut - b0) / 1000, 2), eventsPerSec: round(backlogOut / ((lastOut - b0) / 1000)) },
      repeated,
      outOfOrder,
      sinks: child.sinks,
      eventLoopDelayMs: child.eventLoopDelayMs,
      childCpuSeconds: round(child.cpuSeconds, 2),
    };
  } finally {
    if (flowyard && flowyard.child.exitCode === null) flowyard.child.kill('SIGTERM');
    await tail?.stop().catch(() => undefined);
    await cleanup(shared.redis, name);
  }
}

// ---- 6. router + workers into real kafka sinks -----------------------------------------------

async function kafkaSinkRun(shared, run, path) {
  const name = uniqueName(`bench-ks-${path === 'transactional' ? 'tx' : 'gen'}`);
  const yaml = topologyYaml({ name, mode: 'fanout', destinations: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const count = path === 'transactional' ? CONFIG.kafkaSink.events : CONFIG.kafkaSink.genericEvents;
  try {
    await createBenchTopics(shared.kafka, plan);
    const { records } = sampleEvents(plan.source, { count, keys: KEYS, valueBytes: VALUE_BYTES, runId: name });
    const fillMs = await fill(shared.kafka, plan.source.topics[0], records);
    const result = await measure('kafkasink', { yaml, expected: count, timeoutMs: CONFIG.kafkaSink.timeoutMs, path }, undefined, `kafkasink-${path}`).result;
    return { name, run, path, events: count, fillMs: round(fillMs), load: os.loadavg().map((l) => round(l, 2)), ...result };
  } finally {
    await cleanup(shared.redis, name);
  }
}

// ---- machine, summary ---------------------------------------------------------------------

function machine() {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const pom = readFileSync(join(repo, 'infra/kafka/pom.xml'), 'utf8');
  return {
    nproc: Number(sh('nproc', [])),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1],
    freeG: sh('free', ['-g']),
    memTotalGiB: round(os.totalmem() / 2 ** 30),
    node: process.version,
    kafka: /<kafka\.version>(.*)<\/kafka\.version>/.exec(pom)?.[1],
    peersKafkaClients: /<kafka\.version>(.*)<\/kafka\.version>/.exec(readFileSync(join(repo, 'bench/peers/pom.xml'), 'utf8'))?.[1],
    java: sh('sh', ['-c', 'java -version 2>&1 | head -1']),
    loadAverage: os.loadavg(),
    kafkajs: JSON.parse(readFileSync(join(repo, 'node_modules/kafkajs/package.json'), 'utf8')).version,
    redis: sh('redis-server', ['--version'])?.match(/v=(\S+)/)?.[1],
    kernel: os.release(),
    commit: sh('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']),
    srcDirty: (sh('git', ['-C', repo, 'status', '--porcelain', '--', 'src']) ?? '') !== '',
    baseDist: process.env.BENCH_BASE_DIST,
  };
}

function medians(results) {
  const m = {};
  const { targets } = CONFIG;
  if (results.router.length > 0) {
    const r = results.router;
    m.router = {
      routerEventsPerSec: round(median(r.map((x) => x.router.eventsPerSec))),
      passthroughEventsPerSec: round(median(r.map((x) => x.passthrough.eventsPerSec))),
      transactionalPassthroughEventsPerSec: round(median(r.map((x) => x.passthroughTxn.eventsPerSec))),
      passthroughWithHeadersEventsPerSec: round(median(r.map((x) => x.passthroughHeaders.eventsPerSec))),
      passthroughWithHeadersVsPassthrough: round(median(r.map((x) => x.passthroughHeaders.eventsPerSec / x.passthrough.eventsPerSec)), 3),
      transactionalVsPassthrough: round(median(r.map((x) => x.passthroughTxn.eventsPerSec / x.passthrough.eventsPerSec)), 3),
      ratio: round(median(r.map((x) => x.ratio)), 3),
      ratioVsTransactionalPassthrough: round(median(r.map((x) => x.ratioVsTransactionalPassthrough)), 3),
      ratioVsPassthroughWithHeaders: round(median(r.map((x) => x.ratioVsPassthroughWithHeaders)), 3),
      target: `>= ${targets.routerRatio}x pass-through`,
    };
    m.router.met = m.router.ratio >= targets.routerRatio;
  }
  if (results.worker.length > 0) {
    const w = results.worker;
    m.worker = {
      concurrency64WritesPerSec: round(median(w.map((x) => x.wide.writesPerSec))),
      concurrency1WritesPerSec: round(median(w.map((x) => x.single.writesPerSec))),
      speedup: round(median(w.map((x) => x.speedup))),
      stalledShare: round(median(w.map((x) => x.wide.stalledShare)), 3),
      concurrency64WhileActive: round(median(w.map((x) => x.wide.writesPerSecWhileActive))),
      ideal64: (CONFIG.worker.concurrency * 1000) / CONFIG.worker.latencyMs,
      target: `>= ${targets.workerWritesPerSec} writes/s`,
    };
    m.worker.met = m.worker.concurrency64WritesPerSec >= targets.workerWritesPerSec;
  }
  for (const mode of ['fanout', 'cascade']) {
    const e = results.e2e.filter((x) => x.mode === mode);
    if (e.length === 0) continue;
    const slack = mode === 'fanout' ? targets.fanoutP99SlackMs : targets.cascadeP99SlackMs;
    m[mode] = {
      p50Ms: round(median(e.map((x) => x.endToEnd.p50))),
      p99Ms: round(median(e.map((x) => x.endToEnd.p99))),
      baselineP99Ms: round(median(e.map((x) => x.baselineP99))),
      overBaselineMs: round(median(e.map((x) => x.overBaselineP99))),
      routerHopP50Ms: round(median(e.map((x) => x.routerHop.p50))),
      routerHopP99Ms: round(median(e.map((x) => x.routerHop.p99))),
      afterRouterP50Ms: round(median(e.map((x) => x.afterRouter.endToEnd.p50))),
      afterRouterP99Ms: round(median(e.map((x) => x.afterRouter.endToEnd.p99))),
      completeShare: round(median(e.map((x) => x.completeEvents / x.events)), 4),
      p50Censored: e.some((x) => x.endToEnd.censored?.p50),
      p99Censored: e.some((x) => x.endToEnd.censored?.p99),
      sustainedPerSec: Object.fromEntries(Object.keys(CONFIG.e2e.latencies).map((d) => [d, round(median(e.map((x) => x.sustainedPerSec[d])))])),
      peakRssMiB: round(median(e.map((x) => x.rss.peakHwmMiB))),
      startupRssMiB: round(median(e.map((x) => x.rss.startupMiB))),
      target: `p99 <= ${mode === 'fanout' ? 'slowest destination p99' : 'sum of destination p99s'} + ${slack} ms`,
    };
    m[mode].met = m[mode].overBaselineMs <= slack && !m[mode].p99Censored;
  }
  for (const variant of ['key', 'sequencer']) {
    const r = results.sequencer.filter((x) => x.variant === variant);
    if (r.length === 0) continue;
    m[`hotKeys_${variant}`] = {
      backlogEventsPerSec: round(median(r.map((x) => x.backlog.eventsPerSec))),
      steadyP50Ms: round(median(r.map((x) => x.steady.latency.p50))),
      steadyP99Ms: round(median(r.map((x) => x.steady.latency.p99))),
      repeated: r.reduce((sum, x) => sum + x.repeated, 0),
      outOfOrder: r.reduce((sum, x) => sum + x.outOfOrder, 0),
      missing: r.reduce((sum, x) => sum + x.steady.missing + (x.backlog.events - x.backlog.out), 0),
    };
  }
  if (m.hotKeys_key && m.hotKeys_sequencer) m.hotKeysGain = round(m.hotKeys_sequencer.backlogEventsPerSec / m.hotKeys_key.backlogEventsPerSec, 2);
  for (const path of ['transactional', 'generic']) {
    const k = results.kafkaSink.filter((x) => x.path === path);
    if (k.length > 0) m[`kafkaSink_${path}`] = { eventsPerSec: round(median(k.map((x) => x.eventsPerSec))), runs: k.map((x) => round(x.eventsPerSec)), cpuSeconds: round(median(k.map((x) => x.cpuSeconds))) };
  }
  if (m.kafkaSink_transactional && m.kafkaSink_generic) m.kafkaSinkGain = round(m.kafkaSink_transactional.eventsPerSec / m.kafkaSink_generic.eventsPerSec, 1);
  const rss = results.e2e.map((x) => x.rss.peakHwmMiB);
  if (rss.length > 0) {
    m.rss = { peakMiB: round(median(rss)), maxOfRunsMiB: round(Math.max(...rss)), startupMiB: round(median(results.e2e.map((x) => x.rss.startupMiB))), target: `<= ${targets.peakRssMiB} MiB` };
    m.rss.met = m.rss.peakMiB <= targets.peakRssMiB;
  }
  return m;
}

function printSummary(m, seconds) {
  const yes = (met) => (met ? 'met' : 'MISSED');
  say('');
  say(`flowyard bench, ${CONFIG.runs} runs per figure, medians (${round(seconds / 60, 1)} min; raw: bench/results/${stamp}.json)`);
  say(`load average before ${output.loadBefore.map((l) => round(l, 2)).join(' ')}, after ${output.loadAfter.map((l) => round(l, 2)).join(' ')} (${output.machine.nproc} cores)`);
  if (m.router || m.worker || m.fanout || m.cascade || m.rss) say('figure                                        flowyard        baseline                       ratio / margin      target');
  if (m.router) {
    say(`router fan-out x3, events/s                   ${String(m.router.routerEventsPerSec).padEnd(15)} ${String(m.router.passthroughEventsPerSec).padEnd(8)} pass-through            ${String(m.router.ratio).padEnd(6)}x             ${m.router.target}: ${yes(m.router.met)}`);
    say(`  (vs a transactional pass-through)           ${''.padEnd(15)} ${String(m.router.transactionalPassthroughEventsPerSec).padEnd(8)} txn pass-through        ${m.router.ratioVsTransactionalPassthrough}x`);
    say(`  (vs a pass-through carrying its headers)    ${''.padEnd(15)} ${String(m.router.passthroughWithHeadersEventsPerSec).padEnd(8)} pass-through + headers  ${m.router.ratioVsPassthroughWithHeaders}x`);
  }
  if (m.worker) {
    say(`worker 20 ms sink, c=64, writes/s             ${String(m.worker.concurrency64WritesPerSec).padEnd(15)} ${String(m.worker.concurrency1WritesPerSec).padEnd(8)} same worker c=1         ${String(m.worker.speedup).padEnd(6)}x (ideal ${m.worker.ideal64}/s) ${m.worker.target}: ${yes(m.worker.met)}`);
    say(`  (100 ms slices without a single write at c=64: ${round(m.worker.stalledShare * 100)}%; ${m.worker.concurrency64WhileActive} writes/s in the others)`);
  }
  for (const mode of ['fanout', 'cascade']) {
    const e = m[mode];
    if (!e) continue;
    const ge = (flag) => (flag ? '>=' : '');
    say(`${`${mode} p50 / p99 ms (5/20/50 ms sinks)`.padEnd(45)} ${`${ge(e.p50Censored)}${e.p50Ms} / ${ge(e.p99Censored)}${e.p99Ms}`.padEnd(15)} ${String(e.baselineP99Ms).padEnd(8)} ${(mode === 'fanout' ? 'slowest sink p99' : 'sum of sink p99s').padEnd(23)} ${`+${e.overBaselineMs} ms`.padEnd(18)} ${e.target}: ${yes(e.met)}`);
    say(`  (of which produce -> router ingest p50/p99 ${e.routerHopP50Ms}/${e.routerHopP99Ms} ms; router ingest -> last completion ${e.afterRouterP50Ms}/${e.afterRouterP99Ms} ms; sustained ${JSON.stringify(e.sustainedPerSec)}/s)`);
  }
  for (const variant of ['key', 'sequencer']) {
    const h = m[`hotKeys_${variant}`];
    if (!h) continue;
    const label = variant === 'key' ? 'hot keys, ordering key, events/s' : 'hot keys, none + sequencer, events/s';
    say(`${label.padEnd(45)} ${String(h.backlogEventsPerSec).padEnd(15)} steady ${CONFIG.sequencer.rate}/s: p50/p99 ${h.steadyP50Ms}/${h.steadyP99Ms} ms; repeated ${h.repeated}, out of order ${h.outOfOrder}, missing ${h.missing}`);
  }
  if (m.hotKeysGain !== undefined) say(`  (ordering none + sequencer / ordering key: ${m.hotKeysGain}x)`);
  for (const path of ['transactional', 'generic']) {
    const k = m[`kafkaSink_${path}`];
    if (k) say(`${`router + kafka-sink workers x3, ${path}, ev/s`.padEnd(45)} ${String(k.eventsPerSec).padEnd(15)} runs ${k.runs.join(', ')}; process CPU ${k.cpuSeconds} s`);
  }
  if (m.kafkaSinkGain !== undefined) say(`  (transactional / generic per-record kafka sink: ${m.kafkaSinkGain}x)`);
  for (const line of peers.summaryLines(m)) say(line);
  if (m.rss) say(`peak RSS under load 3, MiB                    ${String(m.rss.peakMiB).padEnd(15)} ${String(m.rss.startupMiB).padEnd(8)} same process idle       max ${m.rss.maxOfRunsMiB}          ${m.rss.target}: ${yes(m.rss.met)}`);
}

// ---- main ----------------------------------------------------------------------------------

const started = performance.now();
const env = benchEnv();
const shared = await createSharedClients(env, benchLogger(env));
const results = { router: [], worker: [], e2e: [], sequencer: [], kafkaSink: [], peers: [], latency: [], http: [] };
const baseDir = process.env.BENCH_BASE_DIR;
/** The base build's measured process (BENCH_BASE_DIST, see run.mjs); undefined without one. */
const measureBase = baseDir === undefined ? undefined : (mode, job, onMessage, label) => measure(mode, job, onMessage, `${label}-base`, join(baseDir, 'bench'));
const peers = createPeers({ repo, logFd, measure, measureBase, config: CONFIG, round, routedCopies });
const output = { date: new Date().toISOString(), machine: machine(), config: { ...CONFIG, only: [...CONFIG.only] }, loadBefore: os.loadavg(), results };
// The box may be shared: the load average before and after, and each figure's own, go into the file.
const save = () => writeFileSync(join(resultsDir, `${stamp}.json`), `${JSON.stringify(output, null, 2)}\n`);
let exitCode = 0;
try {
  say(`flowyard bench: ${CONFIG.runs} runs; machine ${output.machine.nproc} cores, ${output.machine.cpuModel}; node ${output.machine.node}, Kafka ${output.machine.kafka}; child logs: ${logPath}`);
  for (let run = 0; run < CONFIG.runs; run += 1) {
    if (CONFIG.only.has('peers')) {
      const p = await peers.throughputRun(shared, run);
      results.peers.push(p);
      save();
      const rate = (s) => `${round(p[s].eventsPerSec)}${p[s].timedOut ? ' (cut off)' : ''}`;
      const streams = CONFIG.streamsThreads.slice(1).map((n) => `, Streams EOS v2 x${n} threads ${rate(`streamsEosT${n}`)}`).join('');
      const sinks = [['routerKafkaSinks', 'a process per role'], ['routerKafkaSinksOneProcess', 'one process']]
        .filter(([s]) => p[s])
        .map(([s, shape]) => `router + kafka sinks, ${shape}, ${rate(s)} (${round(p.ratioVsStreamsEos[s], 3)}x EOS)`)
        .join(', ');
      say(
        `[run ${run + 1}] fan-out x3, ${p.events} events, ev/s: Java copy ${rate('copy')}, Streams ALOS ${rate('streamsAlos')}, Streams EOS v2 ${rate('streamsEos')}${streams}, ` +
          `router ${rate('router')} (${round(p.ratioVsStreamsEos.router, 3)}x EOS), ${sinks}; load ${p.load.join(' ')}`,
      );
    }
    if (CONFIG.only.has('latency')) {
      // Alternate who goes first, so neither always meets a warmer broker.
      for (const system of run % 2 === 0 ? peers.latencySystems : [...peers.latencySystems].reverse()) {
        const l = await peers.latencyRun(shared, run, system);
        results.latency.push(l);
        save();
        const ge = (flag) => (flag ? '>=' : '');
        say(
          `[run ${run + 1}] e2e ${l.system} at ${l.achievedRate}/s into 3 kafka sinks: p50 ${ge(l.perSinkRecord.censored?.p50)}${l.perSinkRecord.p50} ms, p99 ${ge(l.perSinkRecord.censored?.p99)}${l.perSinkRecord.p99} ms ` +
            `per sink record (all three ${l.allThreeSinks.p50}/${l.allThreeSinks.p99} ms); missing ${l.perSinkRecord.missing}; CPU ${l.cpuSecondsUnderLoad} s, broker ${l.brokerCpuSecondsUnderLoad} s; load ${l.load.join(' ')}`,
        );
      }
    }
    if (CONFIG.only.has('http')) {
      const h = await peers.httpRun(shared, run);
      results.http.push(h);
      save();
      const w = (s) => `${round(h[s].writesPerSec)} writes/s, ${h[s].cpuMsPerEvent} CPU ms/event${h[s].warning ? ` (${h[s].warning})` : ''}`;
      say(`[run ${run + 1}] 20 ms HTTP destination, c=64, key order: Parallel Consumer ${w('parallelConsumer')}; flowyard worker ${w('flowyard')}: ${round(h.ratio, 3)}x; load ${h.load.join(' ')}`);
    }
    if (CONFIG.only.has('router')) {
      const r = await routerRun(shared, run);
      results.router.push(r);
      save();
      say(
        `[run ${run + 1}] router ${round(r.router.eventsPerSec)} ev/s vs pass-through ${round(r.passthrough.eventsPerSec)} ev/s: ${round(r.ratio, 3)}x ` +
          `(pass-through with headers ${round(r.passthroughHeaders.eventsPerSec)}, transactional ${round(r.passthroughTxn.eventsPerSec)})`,
      );
    }
    if (CONFIG.only.has('worker')) {
      const w = await workerRun(shared);
      results.worker.push(w);
      save();
      say(`[run ${run + 1}] worker c=64 ${round(w.wide.writesPerSec)} writes/s vs c=1 ${round(w.single.writesPerSec)} writes/s: ${round(w.speedup)}x${w.warning ? ` (${w.warning})` : ''}`);
    }
    if (CONFIG.only.has('e2e')) {
      for (const mode of CONFIG.e2e.modes) {
        const e = await e2eRun(shared, mode);
        results.e2e.push(e);
        save();
        const ge = (flag) => (flag ? '>=' : '');
        say(
          `[run ${run + 1}] ${mode}: p50 ${ge(e.endToEnd.censored?.p50)}${e.endToEnd.p50} ms, p99 ${ge(e.endToEnd.censored?.p99)}${e.endToEnd.p99} ms vs baseline ${e.baselineP99} ms; ` +
            `${e.completeEvents}/${e.events} complete ${CONFIG.e2e.drainTimeoutMs / 1000} s after a load of ${e.achievedRate}/s; sustained ${JSON.stringify(e.sustainedPerSec)}/s; peak RSS ${e.rss.peakHwmMiB} MiB`,
        );
      }
    }
    if (CONFIG.only.has('kafkasink')) {
      // Alternate who goes first, so broker warm-up favours neither path.
      for (const path of run % 2 === 0 ? ['generic', 'transactional'] : ['transactional', 'generic']) {
        const k = await kafkaSinkRun(shared, run, path);
        results.kafkaSink.push(k);
        save();
        say(`[run ${run + 1}] router + kafka-sink workers x3, ${path}: ${k.events} events in ${round(k.elapsedMs / 1000)} s = ${round(k.eventsPerSec)} ev/s${k.timedOut ? ' (TIMED OUT)' : ''}; process CPU ${round(k.cpuSeconds)} s; load ${k.load.join(' ')}`);
      }
    }
    if (CONFIG.only.has('sequencer')) {
      for (const variant of ['key', 'sequencer']) {
        const h = await sequencerRun(shared, variant);
        results.sequencer.push(h);
        save();
        say(
          `[run ${run + 1}] hot keys, ${variant === 'key' ? 'ordering key' : 'ordering none + sequencer'}: backlog ${h.backlog.out}/${h.backlog.events} in ${h.backlog.seconds} s = ${h.backlog.eventsPerSec} ev/s; ` +
            `steady ${h.steady.rate}/s p50/p99 ${h.steady.latency.p50}/${h.steady.latency.p99} ms; repeated ${h.repeated}, out of order ${h.outOfOrder}`,
        );
      }
    }
  }
} catch (error) {
  exitCode = 1;
  output.error = String(error?.stack ?? error);
  say(`bench failed: ${output.error}`);
} finally {
  output.loadAfter = os.loadavg();
  output.seconds = round((performance.now() - started) / 1000);
  output.medians = { ...medians(results), ...peers.medians(results) };
  save();
  printSummary(output.medians, output.seconds);
  await closeSharedClients(shared);
}
process.exit(exitCode);
