/**
 * Figures 7 and 8 of the suite (issue #13): flowyard next to Java peers in the same run, on the
 * same broker, the same workload (1 KiB JSON, 10,000 keys, 12 partitions, fan-out x3 into Kafka
 * topics). The peers are bench/peers/ (Maven, built by bench/peers/build.sh into
 * bench/peers/target/); each runs as its own `java` process.
 *
 *   7. throughput on a pre-filled source, each system from its start (group joined) to done:
 *      plain Java copy (the ceiling), Kafka Streams at_least_once and exactly_once_v2,
 *      flowyard's router alone, flowyard's router + workers into REAL kafka sinks
 *   8. end-to-end latency at a steady rate through REAL kafka sinks: produce -> the record in
 *      each sink topic (a read_committed tail), flowyard vs Kafka Streams exactly_once_v2
 *   9. one consumer calling a 20 ms HTTP destination, concurrency 64, ordering by key, on one
 *      pre-filled topic: flowyard's worker (http sink) vs Confluent Parallel Consumer (KEY
 *      ordering); writes/s counted at the destination (lib.mjs httpDestination)
 *
 * When a run is done is read from the broker: a group's committed offsets (the copy commits
 * after each flushed batch; EOS and flowyard's router commit in the transaction that writes the
 * copies), or for at_least_once the output topics' watermarks (Streams commits its offsets only
 * every 30 s there, but each copy is visible once written); flowyard's kafka-sink workers by
 * their ok writes (measure.mjs `kafkasink`).
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { sampleEvents } from '../dist/cli/sample-events.js';
import { withTimeout } from '../dist/resilience/timeout.js';
import { HEADER } from '../dist/runtime/headers.js';
import { parseTopology } from '../dist/topology/load.js';
import { KEYS, VALUE_BYTES, benchEnv, cleanup, httpDestination, sleep, committedTotal, createBenchTopics, fill, median, produceSteadily, summarize, topologyYaml, uniqueName, waitFor } from './lib.mjs';

const PEERS_MAIN = 'dev.flowyard.bench.peers.Peers';
/** The systems of figure 7, in the order of an even run (odd runs go backwards). */
export const THROUGHPUT_SYSTEMS = ['copy', 'streamsAlos', 'streamsEos', 'router', 'routerKafkaSinks'];
/** With a base build (BENCH_BASE_DIST): each flowyard system of the base build right before the same system of this one. */
const WITH_BASE = ['copy', 'streamsAlos', 'streamsEos', 'routerBase', 'router', 'routerKafkaSinksBase', 'routerKafkaSinks'];
export const LATENCY_SYSTEMS = ['flowyard', 'streamsEos'];
/** Figure 9's systems, in the order of an even run. */
export const HTTP_SYSTEMS = ['parallelConsumer', 'flowyard'];

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** user + system CPU seconds of a process so far (/proc/<pid>/stat), NaN when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** The local broker's pid (infra/kafka.sh's pid file), to count its CPU per system; undefined when not found. */
function brokerPid(repo) {
  const stateDir = process.env.FLOWYARD_STATE_DIR ?? join(repo, '.local');
  try {
    return Number(readFileSync(join(stateDir, 'kafka', 'kafka.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * @param {{ repo: string, logFd: number, measure: Function, config: object, round: Function, routedCopies: Function }} context
 */
export function createPeers({ repo, logFd, measure, measureBase, config, round, routedCopies }) {
  const throughputSystems = measureBase === undefined ? THROUGHPUT_SYSTEMS : WITH_BASE;
  const peersDir = join(repo, 'bench', 'peers');
  const target = join(peersDir, 'target');
  const bootstrap = benchEnv().kafka.brokers.join(',');
  const broker = brokerPid(repo);

  function assertBuilt() {
    if (!existsSync(join(target, '.complete'))) throw new Error(`the Java peers are not built (${target}); run \`bash bench/peers/build.sh\` (make bench does)`);
  }

  /**
   * Starts one Java peer; `ready` resolves to performance.now() when it printed READY.
   * `stop()` sends SIGTERM and waits (20 s, then SIGKILL) for it to exit.
   */
  function javaPeer(mode, options) {
    const args = Object.entries(options).map(([k, v]) => `${k}=${v}`);
    const child = spawn(
      'java',
      ['-Xms256m', '-Xmx1g', `-Dlog4j.configuration=file:${join(peersDir, 'log4j.properties')}`, '-cp', `${join(target, 'classes')}:${join(target, 'libs', '*')}`, PEERS_MAIN, mode, ...args],
      { stdio: ['ignore', 'pipe', logFd] },
    );
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const ready = new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line === 'READY') resolve(performance.now());
      });
      void exited.then(({ code, signal }) => reject(new Error(`Java peer ${mode} exited (${code ?? signal}) before READY; see the bench log`)));
    });
    ready.catch(() => undefined);
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await withTimeout(20_000, () => exited, () => new Error(`Java peer ${mode} did not stop within 20 s`)).catch(() => {
        child.kill('SIGKILL');
        return exited;
      });
    };
    return { child, ready, stop };
  }

  /** Runs a Java peer until `done(admin)` holds; events/s from READY to the check that held. */
  async function timeJava(admin, mode, options, events, done) {
    const peer = javaPeer(mode, options);
    try {
      const readyAt = await withTimeout(120_000, () => peer.ready, () => new Error(`Java peer ${mode} not READY within 120 s`));
      let doneAt = readyAt;
      const held = await waitFor(
        async () => {
          const ok = await done(admin);
          doneAt = performance.now();
          return ok;
        },
        { intervalMs: 100, timeoutMs: config.peers.timeoutMs },
      );
      const cpu = cpuSeconds(peer.child.pid);
      const elapsedMs = doneAt - readyAt;
      return { elapsedMs, events, eventsPerSec: held ? events / (elapsedMs / 1000) : undefined, timedOut: !held, cpuSeconds: cpu };
    } finally {
      await peer.stop();
    }
  }

  const committedReaches = (group, topics, expected) => async (admin) => (await committedTotal(admin, group, topics)) >= expected;
  const watermarksReach = (topics, expected) => async (admin) => {
    let total = 0;
    for (const topic of topics) for (const p of await admin.watermarks(topic)) total += Number(p.high);
    return total >= expected;
  };

  // ---- 7. throughput -------------------------------------------------------------------------

  /** flowyard's router alone on the topology `yaml`, by `run` (this build's measure, or the base build's). */
  async function routerJob(run, yaml) {
    const { events, timeoutMs } = config.peers;
    const r = await run('router', { yaml, expected: events, timeoutMs }, undefined, 'peers-router').result;
    return { elapsedMs: r.elapsedMs, joinMs: r.joinMs, events: r.committed, eventsPerSec: r.eventsPerSec, timedOut: r.timedOut === true, cpuSeconds: r.cpuSeconds };
  }

  /** The router and three transactional kafka-sink workers of the topology `yaml` in one process. */
  async function kafkaSinksJob(run, yaml) {
    const { events, timeoutMs } = config.peers;
    const r = await run('kafkasink', { yaml, expected: events, timeoutMs, path: 'transactional' }, undefined, 'peers-kafkasink').result;
    // A run cut off by the timeout still gives a rate: the backlog never ran dry before it.
    return { elapsedMs: r.elapsedMs, joinMs: r.joinMs, events: r.events, eventsPerSec: r.eventsPerSec, timedOut: r.timedOut, cpuSeconds: r.cpuSeconds, written: r.written };
  }

  async function throughputRun(shared, run) {
    assertBuilt();
    const name = uniqueName('bench-peers');
    const source = `${name}.events`;
    const outputs = (system) => ['a', 'b', 'c'].map((d) => `${name}.${system}.${d}`);
    // Two plans on the one source (four with a base build): groups, derived topics and sink topics of their own.
    const plans = {
      router: `${name}-router`,
      routerKafkaSinks: `${name}-sinks`,
      ...(measureBase !== undefined && { routerBase: `${name}-router-base`, routerKafkaSinksBase: `${name}-sinks-base` }),
    };
    const yaml = (plan) => topologyYaml({ name: plan, source, mode: 'fanout', destinations: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    const { events } = config.peers;
    const stateDir = mkdtempSync(join(os.tmpdir(), 'flowyard-bench-streams-'));
    const admin = shared.kafka.admin();
    try {
      const routerPlan = parseTopology(yaml(plans.router), 'bench.yaml', {}).plan;
      await createBenchTopics(shared.kafka, routerPlan, [...outputs('copy'), ...outputs('alos'), ...outputs('eos')]);
      for (const plan of Object.keys(plans).filter((p) => p !== 'router')) await createBenchTopics(shared.kafka, parseTopology(yaml(plans[plan]), 'bench.yaml', {}).plan);
      const { records } = sampleEvents(routerPlan.source, { count: events, keys: KEYS, valueBytes: VALUE_BYTES, runId: name });
      const fillMs = await fill(shared.kafka, source, records);
      const codec = benchEnv().kafka.compression;
      const jobs = {
        copy: () => timeJava(admin, 'copy', { bootstrap, source, group: `${name}.copy`, outputs: outputs('copy').join(','), compression: codec }, events, committedReaches(`${name}.copy`, [source], events)),
        streamsAlos: () =>
          timeJava(admin, 'streams', { bootstrap, source, group: `${name}.alos`, outputs: outputs('alos').join(','), guarantee: 'at_least_once', stateDir, compression: codec }, events, watermarksReach(outputs('alos'), 3 * events)),
        streamsEos: () =>
          timeJava(admin, 'streams', { bootstrap, source, group: `${name}.eos`, outputs: outputs('eos').join(','), guarantee: 'exactly_once_v2', stateDir, compression: codec }, events, committedReaches(`${name}.eos`, [source], events)),
        router: () => routerJob(measure, yaml(plans.router)),
        routerKafkaSinks: () => kafkaSinksJob(measure, yaml(plans.routerKafkaSinks)),
        routerBase: () => routerJob(measureBase, yaml(plans.routerBase)),
        routerKafkaSinksBase: () => kafkaSinksJob(measureBase, yaml(plans.routerKafkaSinksBase)),
      };
      // Alternate the order, so broker warm-up and page cache favour no one.
      const order = run % 2 === 0 ? throughputSystems : [...throughputSystems].reverse();
      const out = { name, events, fillMs: round(fillMs), codec, order, load: os.loadavg().map((l) => round(l, 2)) };
      for (const system of order) {
        const brokerBefore = broker === undefined ? Number.NaN : cpuSeconds(broker);
        const result = await jobs[system]();
        const brokerCpu = cpuSeconds(broker) - brokerBefore;
        // CPU per event holds up better than events/s on a loaded box: it does not depend on how much of a core a process got.
        out[system] = {
          ...result,
          cpuMsPerEvent: round((result.cpuSeconds * 1000) / result.events, 3),
          brokerCpuSeconds: round(brokerCpu, 2),
          brokerCpuMsPerEvent: round((brokerCpu * 1000) / result.events, 3),
          loadAfter: round(os.loadavg()[0], 2),
        };
      }
      const eos = out.streamsEos.eventsPerSec;
      out.ratioVsStreamsEos = Object.fromEntries(throughputSystems.map((s) => [s, out[s].eventsPerSec === undefined || !eos ? undefined : out[s].eventsPerSec / eos]));
      return out;
    } finally {
      await admin.disconnect();
      rmSync(stateDir, { recursive: true, force: true });
      for (const n of [name, ...Object.values(plans)]) await cleanup(shared.redis, n);
    }
  }

  // ---- 8. end-to-end latency through real kafka sinks ------------------------------------------

  async function latencyRun(shared, run, system) {
    assertBuilt();
    const { rate, seconds, warmupSeconds, drainTimeoutMs } = config.latency;
    const name = uniqueName(`bench-lat-${system === 'flowyard' ? 'fy' : 'ks'}`);
    const yaml = topologyYaml({ name, mode: 'fanout', destinations: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    const { plan } = parseTopology(yaml, 'bench.yaml', {});
    const source = plan.source.topics[0];
    const sinks = plan.destinations.map((d) => d.sink.topic);
    const total = rate * seconds;
    const { records } = sampleEvents(plan.source, { count: total, keys: KEYS, valueBytes: VALUE_BYTES, runId: name });
    const producedAt = new Float64Array(total);
    const arrivedAt = sinks.map(() => new Float64Array(total));
    // flowyard's sink records carry the router's fy-ingested-at: splits produce -> router from router -> sink.
    const ingestedAt = new Float64Array(total);
    let arrivals = 0;
    let repeats = 0;
    const eventIndex = new RegExp(`"eventId":"${name}-(\\d+)"`);
    const stateDir = mkdtempSync(join(os.tmpdir(), 'flowyard-bench-streams-'));
    let tail;
    let flowyard;
    let peer;
    try {
      // Kafka Streams needs the source and its three outputs only; flowyard its whole plan.
      if (system === 'flowyard') await createBenchTopics(shared.kafka, plan);
      else await createBenchTopics(shared.kafka, { topics: [], partitions: plan.partitions }, [source, ...sinks]);
      // A read_committed tail (kafkajs' default) of the sink topics: an event arrives in a sink
      // when a consumer may read it, i.e. after the transaction that wrote it committed.
      tail = await shared.kafka.tail(sinks, (record) => {
        const at = Date.now();
        const match = eventIndex.exec(record.value?.toString('utf8') ?? '');
        if (!match) return;
        const i = Number(match[1]);
        const s = sinks.indexOf(record.topic);
        if (arrivedAt[s][i] !== 0) {
          repeats += 1;
          return;
        }
        arrivedAt[s][i] = at;
        arrivals += 1;
        const ingested = Number(record.headers[HEADER.ingestedAt]);
        if (ingested > 0) ingestedAt[i] = ingested;
      });

      let startup;
      if (system === 'flowyard') {
        let ready;
        const readyNow = new Promise((resolve) => (ready = resolve));
        flowyard = measure('kafkasink', { yaml, path: 'transactional', steady: true }, (message) => message.type === 'ready' && ready(message), 'latency-flowyard');
        startup = await Promise.race([readyNow, flowyard.result]);
      } else {
        peer = javaPeer('streams', { bootstrap, source, group: `${name}.eos`, outputs: sinks.join(','), guarantee: 'exactly_once_v2', stateDir, compression: benchEnv().kafka.compression });
        await withTimeout(120_000, () => peer.ready, () => new Error('Kafka Streams not READY within 120 s'));
      }
      const pid = system === 'flowyard' ? flowyard.child.pid : peer.child.pid;
      const cpuBefore = cpuSeconds(pid);
      const brokerBefore = broker === undefined ? Number.NaN : cpuSeconds(broker);

      const producer = await shared.kafka.producer();
      const { t0, seconds: produceSeconds, sendDurations } = await produceSteadily(producer, source, records, rate, producedAt);
      await producer.disconnect();
      await waitFor(() => arrivals >= total * sinks.length, { intervalMs: 100, timeoutMs: drainTimeoutMs });
      const drainEnd = Date.now();
      const cpu = cpuSeconds(pid) - cpuBefore;
      const brokerCpu = cpuSeconds(broker) - brokerBefore;
      let child;
      if (flowyard) {
        flowyard.child.send({ type: 'stop' });
        child = await flowyard.result;
      } else await peer.stop();

      // Events of the first seconds are left out (JIT, first fetches). A record that never
      // arrived counts with its wait so far: a percentile that falls on one is a lower bound.
      const from = t0 + warmupSeconds * 1000;
      const measured = [];
      for (let i = 0; i < total; i += 1) if (producedAt[i] >= from) measured.push(i);
      const perRecord = [];
      let missing = 0;
      for (const times of arrivedAt) {
        for (const i of measured) {
          if (times[i] === 0) missing += 1;
          perRecord.push((times[i] || drainEnd) - producedAt[i]);
        }
      }
      const lastOfThree = measured.map((i) => Math.max(...arrivedAt.map((times) => times[i] || drainEnd)) - producedAt[i]);
      const censored = (n) => (missing > 0 ? { p50: missing >= n * 0.5, p99: missing >= n * 0.01 } : undefined);
      const loadEnd = t0 + produceSeconds * 1000;
      const sustained = sinks.map((_, s) => {
        let n = 0;
        for (let i = 0; i < total; i += 1) if (arrivedAt[s][i] >= from && arrivedAt[s][i] <= loadEnd) n += 1;
        return round(n / ((loadEnd - from) / 1000));
      });
      return {
        name,
        run,
        system,
        events: total,
        achievedRate: round(total / produceSeconds),
        producerSendMs: summarize(sendDurations),
        perSinkRecord: { ...summarize(perRecord), missing, censored: censored(perRecord.length) },
        allThreeSinks: { ...summarize(lastOfThree), censored: censored(lastOfThree.length) },
        perSink: Object.fromEntries(sinks.map((topic, s) => [topic.slice(name.length + 1), summarize(measured.filter((i) => arrivedAt[s][i] > 0).map((i) => arrivedAt[s][i] - producedAt[i]))])),
        sustainedPerSec: sustained,
        ...(system === 'flowyard' && {
          produceToRouter: summarize(measured.filter((i) => ingestedAt[i] > 0).map((i) => ingestedAt[i] - producedAt[i])),
          routerToSinkRecord: summarize(arrivedAt.flatMap((times) => measured.filter((i) => times[i] > 0 && ingestedAt[i] > 0).map((i) => times[i] - ingestedAt[i]))),
        }),
        repeats,
        cpuSecondsUnderLoad: round(cpu, 2),
        brokerCpuSecondsUnderLoad: round(brokerCpu, 2),
        load: os.loadavg().map((l) => round(l, 2)),
        ...(startup?.memory && { startupRssMiB: round(startup.memory.rssMiB) }),
        ...(child && { joinMs: child.joinMs, eventLoopDelayMs: child.eventLoopDelayMs, childCpuSeconds: round(child.cpuSeconds, 2), roundTrips: child.roundTrips }),
      };
    } finally {
      if (flowyard && flowyard.child.exitCode === null) flowyard.child.kill('SIGTERM');
      await peer?.stop();
      await tail?.stop().catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
      await cleanup(shared.redis, name);
    }
  }

  // ---- 9. a 20 ms HTTP destination: flowyard's worker vs Parallel Consumer -------------------

  /**
   * One run: a topic pre-filled with routed copies (flowyard headers, keyed by the causal key:
   * what figure 2 fills), read from the start by each system with its own group, one after
   * another. Each POSTs every record to the same 20 ms HTTP server (its own path); writes/s are
   * the server's answered requests over `windowMs`, starting `warmupMs` after the system's first
   * request (figure 2's window), CPU per event the process's CPU over that window / its writes.
   */
  async function httpRun(shared, run) {
    assertBuilt();
    const { events, latencyMs, concurrency, warmupMs, windowMs } = config.http;
    const name = uniqueName('bench-http');
    const destination = httpDestination(latencyMs);
    const base = await destination.listen();
    const yaml = topologyYaml({ name, mode: 'fanout', destinations: [{ name: 'hook', concurrency, ordering: 'key', sink: `{ type: http, url: '${base}/flowyard' }` }] });
    const { plan } = parseTopology(yaml, 'bench.yaml', {});
    const input = plan.destinations[0].inputTopic;
    try {
      await createBenchTopics(shared.kafka, plan);
      const fillMs = await fill(shared.kafka, input, routedCopies(plan, events, name));
      const order = run % 2 === 0 ? HTTP_SYSTEMS : [...HTTP_SYSTEMS].reverse();
      const out = { name, events, fillMs: round(fillMs), order, load: os.loadavg().map((l) => round(l, 2)) };
      for (const system of order) {
        const path = system === 'flowyard' ? '/flowyard' : '/pc';
        const stats = destination.stats(path);
        let peer;
        let flowyard;
        try {
          if (system === 'flowyard') {
            let ready;
            const readyNow = new Promise((resolve) => (ready = resolve));
            flowyard = measure('httpworker', { yaml, destination: 'hook' }, (message) => message.type === 'ready' && ready(message), 'http-flowyard');
            await Promise.race([readyNow, flowyard.result]);
          } else {
            peer = javaPeer('pc', { bootstrap, source: input, group: `${name}.pc`, url: `${base}${path}`, concurrency });
            await withTimeout(120_000, () => peer.ready, () => new Error('Parallel Consumer not READY within 120 s'));
          }
          const pid = flowyard ? flowyard.child.pid : peer.child.pid;
          const wrote = await waitFor(() => stats.requests > 0, { intervalMs: 5, timeoutMs: 60_000 });
          if (!wrote) throw new Error(`${system}: no request at the HTTP destination within 60 s of its start`);
          await sleep(Math.max(0, stats.firstAt + warmupMs - performance.now()));
          const inFlightMs = () => stats.inFlightMs + stats.inFlight * (performance.now() - stats.changedAt);
          const before = { requests: stats.requests, at: performance.now(), cpu: cpuSeconds(pid), inFlightMs: inFlightMs() };
          await sleep(windowMs);
          // Mean requests in flight at the destination: how much of its concurrency a system used.
          const meanInFlight = (inFlightMs() - before.inFlightMs) / (performance.now() - before.at);
          const writes = stats.requests - before.requests;
          const seconds = (performance.now() - before.at) / 1000;
          const cpu = cpuSeconds(pid) - before.cpu;
          out[system] = {
            writes,
            seconds: round(seconds, 2),
            writesPerSec: writes / seconds,
            cpuSecondsInWindow: round(cpu, 2),
            cpuMsPerEvent: round((cpu * 1000) / writes, 3),
            coresInWindow: round(cpu / seconds, 2),
            maxInFlight: stats.maxInFlight,
            meanInFlight: round(meanInFlight, 1),
            lifetimeCpuSeconds: round(cpuSeconds(pid), 2),
            loadAfter: round(os.loadavg()[0], 2),
            ...(stats.requests >= events && { warning: 'the backlog ran out before the window closed: raise BENCH_HTTP_EVENTS' }),
          };
        } finally {
          if (flowyard) {
            flowyard.child.send({ type: 'stop' });
            // The figure is taken by now; a worker that does not stop within 20 s is killed and
            // noted (seen in the first runs of this figure: the http-sink worker hung in stop).
            const child = await withTimeout(20_000, () => flowyard.result, () => new Error('the flowyard worker did not stop within 20 s; killed'))
              .catch((error) => {
                flowyard.child.kill('SIGKILL');
                return { error: String(error?.message ?? error) };
              });
            if (out.flowyard) out.flowyard.child = child;
          }
          await peer?.stop();
        }
      }
      out.ratio = out.flowyard.writesPerSec / out.parallelConsumer.writesPerSec;
      return out;
    } finally {
      await destination.close();
      await cleanup(shared.redis, name);
    }
  }

  /** Medians of the runs, ratios against Kafka Streams EOS v2, and the issue's targets. */
  function medians(results) {
    const m = {};
    const { targets } = config;
    const t = results.peers;
    if (t.length > 0) {
      m.peers = Object.fromEntries(
        throughputSystems.map((s) => [
          s,
          {
            eventsPerSec: round(median(t.map((x) => x[s].eventsPerSec))),
            runs: t.map((x) => round(x[s].eventsPerSec)),
            ratioVsStreamsEos: round(median(t.map((x) => x.ratioVsStreamsEos[s])), 3),
            cpuSeconds: round(median(t.map((x) => x[s].cpuSeconds)), 1),
            cpuMsPerEvent: round(median(t.map((x) => x[s].cpuMsPerEvent)), 3),
            brokerCpuSeconds: round(median(t.map((x) => x[s].brokerCpuSeconds)), 1),
            brokerCpuMsPerEvent: round(median(t.map((x) => x[s].brokerCpuMsPerEvent)), 3),
            timedOutRuns: t.filter((x) => x[s].timedOut).length,
          },
        ]),
      );
      m.peers.targets = {
        routerKafkaSinks: { target: `>= ${targets.kafkaSinksVsEos}x Kafka Streams EOS v2`, met: m.peers.routerKafkaSinks.ratioVsStreamsEos >= targets.kafkaSinksVsEos },
        router: { target: `>= ${targets.routerVsEos}x Kafka Streams EOS v2`, met: m.peers.router.ratioVsStreamsEos >= targets.routerVsEos },
      };
    }
    for (const system of LATENCY_SYSTEMS) {
      const l = results.latency.filter((x) => x.system === system);
      if (l.length === 0) continue;
      m[`latency_${system}`] = {
        p50Ms: round(median(l.map((x) => x.perSinkRecord.p50))),
        p99Ms: round(median(l.map((x) => x.perSinkRecord.p99))),
        allThreeP50Ms: round(median(l.map((x) => x.allThreeSinks.p50))),
        allThreeP99Ms: round(median(l.map((x) => x.allThreeSinks.p99))),
        runsP99Ms: l.map((x) => x.perSinkRecord.p99),
        p99Censored: l.some((x) => x.perSinkRecord.censored?.p99),
        missing: l.reduce((sum, x) => sum + x.perSinkRecord.missing, 0),
        repeats: l.reduce((sum, x) => sum + x.repeats, 0),
        achievedRate: round(median(l.map((x) => x.achievedRate))),
        ...(system === 'flowyard' && {
          produceToRouterP50Ms: round(median(l.map((x) => x.produceToRouter.p50))),
          produceToRouterP99Ms: round(median(l.map((x) => x.produceToRouter.p99))),
          routerToSinkP50Ms: round(median(l.map((x) => x.routerToSinkRecord.p50))),
          routerToSinkP99Ms: round(median(l.map((x) => x.routerToSinkRecord.p99))),
        }),
        cpuSecondsUnderLoad: round(median(l.map((x) => x.cpuSecondsUnderLoad)), 1),
        brokerCpuSecondsUnderLoad: round(median(l.map((x) => x.brokerCpuSecondsUnderLoad)), 1),
      };
    }
    const h = results.http ?? [];
    if (h.length > 0) {
      const per = (system) => ({
        writesPerSec: round(median(h.map((x) => x[system].writesPerSec))),
        runs: h.map((x) => round(x[system].writesPerSec)),
        cpuMsPerEvent: round(median(h.map((x) => x[system].cpuMsPerEvent)), 3),
        coresInWindow: round(median(h.map((x) => x[system].coresInWindow)), 2),
        maxInFlight: Math.max(...h.map((x) => x[system].maxInFlight)),
        meanInFlight: round(median(h.map((x) => x[system].meanInFlight)), 1),
      });
      const ratio = round(median(h.map((x) => x.ratio)), 3);
      m.http = { parallelConsumer: per('parallelConsumer'), flowyard: per('flowyard'), ratio, ratioRuns: h.map((x) => round(x.ratio, 3)), target: `>= ${targets.httpVsParallelConsumer}x Parallel Consumer`, met: ratio >= targets.httpVsParallelConsumer };
    }
    if (m.latency_flowyard) {
      m.latency_flowyard.target = `p99 <= ${targets.latencyP99Ms} ms at ${config.latency.rate}/s`;
      m.latency_flowyard.met = m.latency_flowyard.p99Ms <= targets.latencyP99Ms && !m.latency_flowyard.p99Censored;
    }
    return m;
  }

  function summaryLines(m) {
    const lines = [];
    const yes = (met) => (met ? 'met' : 'MISSED');
    if (m.peers) {
      const label = { copy: 'plain Java copy (ceiling)', streamsAlos: 'Kafka Streams at_least_once', streamsEos: 'Kafka Streams exactly_once_v2', router: 'flowyard router alone', routerKafkaSinks: 'flowyard router + kafka-sink workers', routerBase: 'flowyard router alone (base build)', routerKafkaSinksBase: 'flowyard router + kafka-sink workers (base build)' };
      lines.push(`fan-out x3 into Kafka topics, ${config.peers.events} events pre-filled       events/s   vs Streams EOS v2   CPU ms/event   broker ms/event   runs`);
      for (const s of throughputSystems) {
        const p = m.peers[s];
        const target = m.peers.targets[s] ? `   ${m.peers.targets[s].target}: ${yes(m.peers.targets[s].met)}` : '';
        lines.push(`  ${label[s].padEnd(64)} ${String(p.eventsPerSec).padEnd(10)} ${`${p.ratioVsStreamsEos}x`.padEnd(19)} ${String(p.cpuMsPerEvent).padEnd(14)} ${String(p.brokerCpuMsPerEvent).padEnd(17)} ${p.runs.join(', ')}${p.timedOutRuns ? ` (${p.timedOutRuns} cut off by the timeout)` : ''}${target}`);
      }
    }
    for (const system of LATENCY_SYSTEMS) {
      const l = m[`latency_${system}`];
      if (!l) continue;
      const ge = l.p99Censored ? '>=' : '';
      const label = system === 'flowyard' ? 'flowyard router + kafka-sink workers' : 'Kafka Streams exactly_once_v2';
      lines.push(
        `e2e at ${config.latency.rate}/s into 3 kafka sinks, ${label}: p50 ${l.p50Ms} ms, p99 ${ge}${l.p99Ms} ms per sink record (all three: ${l.allThreeP50Ms}/${l.allThreeP99Ms} ms); missing ${l.missing}, repeats ${l.repeats}` +
          (l.target ? `   ${l.target}: ${yes(l.met)}` : ''),
      );
      if (l.produceToRouterP50Ms !== undefined) lines.push(`  (of which produce -> router ingest p50/p99 ${l.produceToRouterP50Ms}/${l.produceToRouterP99Ms} ms; router ingest -> sink record ${l.routerToSinkP50Ms}/${l.routerToSinkP99Ms} ms; process CPU ${l.cpuSecondsUnderLoad} s, broker ${l.brokerCpuSecondsUnderLoad} s under load)`);
      else lines.push(`  (process CPU ${l.cpuSecondsUnderLoad} s, broker ${l.brokerCpuSecondsUnderLoad} s under load)`);
    }
    if (m.http) {
      const { http } = config;
      lines.push(`${http.latencyMs} ms HTTP destination, concurrency ${http.concurrency}, ordering by key, ${http.events} events pre-filled   writes/s   CPU ms/event   cores   in flight   runs`);
      for (const [system, label] of [['parallelConsumer', 'Confluent Parallel Consumer (KEY)'], ['flowyard', 'flowyard worker, http sink']]) {
        const p = m.http[system];
        lines.push(`  ${label.padEnd(34)} ${String(p.writesPerSec).padEnd(10)} ${String(p.cpuMsPerEvent).padEnd(14)} ${String(p.coresInWindow).padEnd(7)} ${String(p.meanInFlight).padEnd(11)} ${p.runs.join(', ')}`);
      }
      lines.push(`  flowyard / Parallel Consumer: ${m.http.ratio}x (runs ${m.http.ratioRuns.join(', ')})   ${m.http.target}: ${yes(m.http.met)}`);
    }
    return lines;
  }

  return { throughputRun, latencyRun, httpRun, medians, summaryLines };
}
