/**
 * One measured process, forked by bench/run.mjs (IPC channel): each figure and each baseline
 * runs in a fresh Node process, so JIT warm-up, heap and sockets never leak between them, and
 * the flowyard process of the end-to-end figure is one whose RSS can be read from /proc.
 *
 *   node bench/measure.mjs <mode>   (the job arrives as the first IPC message)
 *
 * modes:
 *   passthrough  plain consume -> produce to 3 topics with the same Kafka module, same batches
 *   router       flowyard's Router alone (fan-out to 3 destinations)
 *   worker       one flowyard Worker against a LatencySink
 *   httpworker   one flowyard Worker with its REAL sink (figure 9: the http sink), until told to
 *                stop; the parent counts its writes at the HTTP destination
 *   flowyard     router + every worker of a topology (+ the job's `roles`, e.g. tracker and
 *                sequencer), LatencySinks, until told to stop
 *   kafkasink    router + every worker writing REAL kafka sinks, on a pre-filled source, until
 *                every destination has written `expected` events: `path: transactional` is what
 *                `flowyard run` does, `path: generic` forces the per-record kafka sink through the
 *                generic worker (what flowyard ran before the transactional path); with
 *                `steady: true` it reports ready instead and runs until told to stop (the
 *                latency figure, whose load and measurement are the parent's); `roles` and
 *                `destinations` run part of the plan (the chart's one process per role and
 *                destination), `progress: true` reports its writes while the parent keeps time
 *
 * Waits go through flowyard's resilience layer (dist/resilience): pollUntil for conditions only
 * polling can see. The signal aborts when the parent goes away, so an orphan stops polling.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';
import { produceTransactionally } from '../dist/kafka/producer.js';
import { nextOffset } from '../dist/kafka/records.js';
import { newTraceparent, toHeaders } from '../dist/runtime/headers.js';
import { createRoles } from '../dist/runtime/roles.js';
import { createSink } from '../dist/sinks/registry.js';
import { closeSharedClients, createSharedClients } from '../dist/runtime/shared.js';
import { parseTopology } from '../dist/topology/load.js';
import { pollUntil } from '../dist/resilience/poll.js';
import { LatencySink, benchAdmin, benchEnv, benchKafka, benchLogger, committedTotal, countRoundTrips, procMemory, sampleWorkerGauges, sleep, summarize } from './lib.mjs';

const POLL_MS = 100;

/** Ends every wait of this process once the parent (the suite) is gone. */
const orphaned = new globalThis.AbortController();
process.once('disconnect', () => orphaned.abort());

const send = (message) => new Promise((resolve) => process.send(message, resolve));

async function job() {
  return new Promise((resolve) => process.once('message', resolve));
}

/** Polls the group's committed offsets until they reach `expected`; resolves to the ms since `started`. */
async function untilCommitted(groupId, topics, expected, started, timeoutMs) {
  const admin = (await benchKafka('bench-watch')).admin();
  try {
    let committed = 0;
    let reachedAt = 0;
    const reached = await pollUntil(
      async () => {
        committed = await committedTotal(admin, groupId, topics);
        reachedAt = performance.now();
        return committed >= expected;
      },
      { signal: orphaned.signal, intervalMs: POLL_MS, until: Date.now() + Math.max(0, started + timeoutMs - performance.now()) },
    );
    return { elapsedMs: (reached ? reachedAt : performance.now()) - started, committed, ...(!reached && { timedOut: true }) };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until each group has joined (state Stable, members assigned): kafkajs' run() returns
 * before the join, and the Java peers start their clock at assignment too. Returns ms waited.
 */
async function untilGroupsStable(groups) {
  const admin = benchAdmin('bench-groups');
  await admin.connect();
  const started = performance.now();
  try {
    const stable = await pollUntil(
      async () => (await admin.describeGroups([...groups])).groups.every((g) => g.state === 'Stable' && g.members.length > 0),
      { signal: orphaned.signal, intervalMs: 50, until: Date.now() + 60_000 },
    );
    if (!stable) throw new Error(`groups ${groups.join(', ')} did not join within 60 s`);
    return performance.now() - started;
  } finally {
    await admin.disconnect();
  }
}

/**
 * The baseline of the router figure: what the same client does when it only copies. Same
 * BatchConsumer (1 MiB per partition per fetch, one partition at a time), same producer
 * settings (idempotent, acks=all), one sendBatch per consumed batch to the 3 topics, keyed by
 * the record key. Two variants split the router's extra cost: `withHeaders` adds the
 * router's seven headers to each copy; `transactional` wraps each batch and its offsets in a
 * transaction as the router does.
 */
async function passthrough({ source, outputs, group, expected, transactional, withHeaders, timeoutMs }) {
  const env = benchEnv();
  const logger = benchLogger(env);
  const kafka = await benchKafka('bench-passthrough', env, logger);
  const roundTrips = countRoundTrips();
  const producer = await kafka.producer(transactional ? { transactionalId: `${group}-${process.pid}` } : {});
  const consumer = kafka.groupConsumer({
    groupId: group,
    topics: [source],
    commitMode: transactional ? 'manual' : 'after-batch',
    handleBatch: async (records) => {
      // withHeaders: the seven flowyard headers the router adds (a fresh traceparent each), to
      // tell the cost of carrying them from the rest of the router's work.
      const copies = withHeaders
        ? records.map((r) => ({
            key: r.key,
            value: r.value,
            headers: toHeaders({ plan: group, eventId: `${r.topic}-${r.partition}-${r.offset}`, key: String(r.key), seq: 1, ingestedAt: Date.now(), traceparent: newTraceparent() }),
          }))
        : records.map((r) => ({ key: r.key, value: r.value }));
      if (transactional) {
        const last = records[records.length - 1];
        await produceTransactionally(producer, consumer, new Map(outputs.map((t) => [t, copies])), [
          { topic: last.topic, partition: last.partition, offset: nextOffset(last.offset) },
        ]);
      } else {
        await producer.send(outputs.map((topic) => ({ topic, records: copies })));
      }
    },
  });
  await consumer.start();
  const started = performance.now();
  const done = await untilCommitted(group, [source], expected, started, timeoutMs);
  const cpu = process.cpuUsage();
  await consumer.disconnect();
  await producer.disconnect();
  return { ...done, eventsPerSec: done.committed / (done.elapsedMs / 1000), cpuSeconds: (cpu.user + cpu.system) / 1e6, roundTrips: roundTrips() };
}

/** `latencies` undefined: the plan's own sinks (createRoles' default), not LatencySinks. */
async function withRoles({ yaml, roles, destinations, latencies }, body) {
  const env = benchEnv();
  const shared = await createSharedClients(env, benchLogger(env));
  const roundTrips = countRoundTrips(shared.redis);
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const sinks = new Map();
  const created = await createRoles(
    plan,
    shared,
    { roles: new Set(roles), ...(destinations && { destinations: new Set(destinations) }) },
    latencies === undefined
      ? {}
      : {
          createSink: (_config, context) => {
            const sink = new LatencySink(latencies[context.destination] ?? 0);
            sinks.set(context.destination, sink);
            return sink;
          },
        },
  );
  for (const role of created) await role.start();
  try {
    return await body({ plan, sinks, roundTrips, metrics: shared.metrics });
  } finally {
    for (const role of created) await role.stop();
    await closeSharedClients(shared);
  }
}

/** The Router alone, from after its group join until its transactions committed `expected` source offsets. */
async function router({ yaml, expected, timeoutMs }) {
  return withRoles({ yaml, roles: ['router'], latencies: {} }, async ({ plan, roundTrips }) => {
    const joinMs = await untilGroupsStable([plan.groups.router]);
    const started = performance.now();
    const done = await untilCommitted(plan.groups.router, plan.source.topics, expected, started, timeoutMs);
    const cpu = process.cpuUsage();
    return { ...done, joinMs, eventsPerSec: done.committed / (done.elapsedMs / 1000), cpuSeconds: (cpu.user + cpu.system) / 1e6, roundTrips: roundTrips() };
  });
}

/** One Worker with a backlog: sink writes per second over `windowMs`, after `warmupMs` from its first write. */
async function worker({ yaml, destination, latencyMs, warmupMs, windowMs }) {
  return withRoles({ yaml, roles: ['worker'], destinations: [destination], latencies: { [destination]: latencyMs } }, async ({ sinks, roundTrips, metrics }) => {
    const sink = sinks.get(destination);
    const delay = loopDelay();
    const wrote = await pollUntil(() => sink.firstWriteAt !== undefined, { signal: orphaned.signal, intervalMs: 5, until: Date.now() + 30_000 });
    if (!wrote) return { error: 'no write within 30 s' };
    await sleep(Math.max(0, sink.firstWriteAt + warmupMs - performance.now()));
    const before = sink.writes;
    const windowStart = performance.now();
    const gauges = sampleWorkerGauges(metrics);
    // Writes per 100 ms through the window: shows stalls (no write at all) next to the rate.
    const timeline = [];
    let last = before;
    const tick = setInterval(() => {
      timeline.push(sink.writes - last);
      last = sink.writes;
    }, 100);
    await sleep(windowMs);
    clearInterval(tick);
    const writes = sink.writes - before;
    const occupancy = gauges()[destination];
    const seconds = (performance.now() - windowStart) / 1000;
    const cpu = process.cpuUsage();
    const active = timeline.filter((n) => n > 0).length;
    return { writes, seconds, writesPerSec: writes / seconds, writesPerSecWhileActive: active === 0 ? 0 : writes / (active / 10), totalWrites: sink.writes, sinkLatency: summarize(sink.durations), occupancy, stalledShare: timeline.filter((n) => n === 0).length / timeline.length, timeline, eventLoopDelayMs: delay(), cpuSeconds: (cpu.user + cpu.system) / 1e6, roundTrips: roundTrips() };
  });
}

/** One Worker with its plan's real sink: ready once started, runs until the parent says stop; its CPU is read from /proc by the parent. */
async function httpworker({ yaml, destination }) {
  return withRoles({ yaml, roles: ['worker'], destinations: [destination] }, async ({ roundTrips }) => {
    const delay = loopDelay();
    await send({ type: 'ready' });
    await new Promise((resolve) => process.once('message', resolve));
    const cpu = process.cpuUsage();
    return { eventLoopDelayMs: delay(), cpuSeconds: (cpu.user + cpu.system) / 1e6, roundTrips: roundTrips() };
  });
}

/**
 * The destinations' own latency, the baseline of the end-to-end figure: the same LatencySink
 * code in this same process, after start-up and before load, 50 writes at a time.
 */
async function calibrate(latencies) {
  const out = {};
  for (const [name, ms] of Object.entries(latencies)) {
    const sink = new LatencySink(ms);
    for (let round = 0; round < 10; round += 1) await Promise.all(Array.from({ length: 50 }, () => sink.write()));
    out[name] = summarize(sink.durations);
  }
  return out;
}

/** Event-loop delay in ms (how late timers and I/O callbacks ran): the process's own queueing. */
function loopDelay() {
  const resolutionMs = 5;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  return () => {
    histogram.disable();
    // The histogram holds the interval between samples: the lateness is what exceeds the resolution.
    const ms = (ns) => Math.max(0, Math.round(ns / 1e5) / 10 - resolutionMs);
    return { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
  };
}

/** Router and every worker (or the job's `roles`), as `flowyard run` would, until the parent says stop. */
async function flowyard({ yaml, latencies, roles = ['router', 'worker'] }) {
  return withRoles({ yaml, roles, latencies }, async ({ sinks, roundTrips, metrics }) => {
    const calibrated = await calibrate(latencies);
    const delay = loopDelay();
    const gauges = sampleWorkerGauges(metrics, 50);
    await send({ type: 'ready', memory: procMemory(process.pid), calibrated });
    await new Promise((resolve) => process.once('message', resolve));
    const cpu = process.cpuUsage();
    const memory = procMemory(process.pid);
    return {
      sinks: Object.fromEntries([...sinks].map(([name, sink]) => [name, summarize(sink.durations)])),
      calibrated,
      occupancy: gauges(),
      eventLoopDelayMs: delay(),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      memoryBeforeStop: memory,
      roundTrips: roundTrips(),
    };
  });
}

/**
 * Router + workers into real kafka sinks, from after every role started until each
 * destination counted `expected` ok writes (flowyard_writes_total): events/s of the fan-out.
 * `steady`: report ready, run until the parent says stop (it produces and measures).
 * `roles` / `destinations` pick part of the plan, as `flowyard run --roles worker --destinations a`
 * does (one process per role and destination, the Helm chart's shape; figures 7 and 8).
 * `progress`: report ready, then this process's ok writes per destination every POLL_MS (when
 * they change) until the parent says stop: the parent runs the clock and reads each process's
 * CPU, the same way for one process and for one per role.
 */
async function kafkasink({ yaml, expected, timeoutMs, path, steady = false, progress = false, roles = ['router', 'worker'], destinations }) {
  const env = benchEnv();
  const shared = await createSharedClients(env, benchLogger(env));
  const roundTrips = countRoundTrips(shared.redis);
  const { plan } = parseTopology(yaml, 'bench.yaml', {});
  const overrides = path === 'generic' ? { createSink: (config, context) => createSink(config, context) } : {};
  const created = await createRoles(plan, shared, { roles: new Set(roles), ...(destinations && { destinations: new Set(destinations) }) }, overrides);
  for (const role of created) await role.start();
  const mine = plan.destinations.filter((d) => roles.includes('worker') && (destinations === undefined || destinations.includes(d.name)));
  // The client each process really ran (KAFKA_CLIENT from the environment the parent passed on).
  const about = { path, roles, destinations: mine.map((d) => d.name), kafkaClient: env.kafka.client, pid: process.pid };
  const written = async () => {
    const { values } = await shared.metrics.writes.get();
    const byDestination = Object.fromEntries(mine.map((d) => [d.name, 0]));
    for (const v of values) if (v.labels.outcome === 'ok' && v.labels.destination in byDestination) byDestination[v.labels.destination] += v.value;
    return byDestination;
  };
  try {
    const joinMs = await untilGroupsStable([...(roles.includes('router') ? [plan.groups.router] : []), ...mine.map((d) => d.group)]);
    if (steady || progress) {
      const delay = loopDelay();
      await send({ type: 'ready', memory: procMemory(process.pid), ...about });
      // The parent's stop, or its going away (an orphan stops too).
      const stop = new Promise((resolve) => {
        process.once('message', resolve);
        orphaned.signal.addEventListener('abort', resolve, { once: true });
      });
      let last = '';
      let stopped = false;
      void stop.then(() => (stopped = true));
      while (progress && !stopped) {
        const counts = await written();
        const text = JSON.stringify(counts);
        if (text !== last) await send({ type: 'written', written: counts });
        last = text;
        await Promise.race([sleep(POLL_MS), stop]);
      }
      await stop;
      const cpu = process.cpuUsage();
      return { ...about, joinMs, ...(progress && { written: await written() }), eventLoopDelayMs: delay(), cpuSeconds: (cpu.user + cpu.system) / 1e6, memoryBeforeStop: procMemory(process.pid), roundTrips: roundTrips() };
    }
    const started = performance.now();
    let counts = {};
    let countedAt = started;
    await pollUntil(
      async () => {
        counts = await written();
        countedAt = performance.now();
        return Object.values(counts).every((n) => n >= expected);
      },
      { signal: orphaned.signal, intervalMs: POLL_MS, until: Date.now() + timeoutMs },
    );
    const elapsedMs = countedAt - started;
    const events = Math.min(...Object.values(counts));
    const cpu = process.cpuUsage();
    return { ...about, joinMs, elapsedMs, events, written: counts, timedOut: events < expected, eventsPerSec: events / (elapsedMs / 1000), cpuSeconds: (cpu.user + cpu.system) / 1e6, roundTrips: roundTrips() };
  } finally {
    for (const role of created) await role.stop();
    await closeSharedClients(shared);
  }
}

const MODES = { passthrough, router, worker, httpworker, flowyard, kafkasink };

const mode = process.argv[2];
try {
  if (!MODES[mode]) throw new Error(`unknown mode ${mode}; one of ${Object.keys(MODES).join(', ')}`);
  const result = await MODES[mode](await job());
  await send({ type: 'result', result });
  process.exit(0);
} catch (error) {
  await send({ type: 'error', error: String(error?.stack ?? error) });
  process.exit(1);
}
