/**
 * Figures 7 and 8 of the suite (issue #13): flowyard next to Java peers in the same run, on the
 * same broker, the same workload (1 KiB JSON, 10,000 keys, 12 partitions, fan-out x3 into Kafka
 * topics). The peers are bench/peers/ (Maven, built by bench/peers/build.sh into
 * bench/peers/target/); each runs as its own `java` process.
 *
 *   7. throughput on a pre-filled source, each system from its start (group joined) to done:
 *      plain Java copy (the ceiling), Kafka Streams at_least_once and exactly_once_v2,
 *      flowyard's router alone, flowyard's router + workers into REAL kafka sinks, by default in
 *      a process per role and destination as the Helm chart deploys them (BENCH_FLOWYARD_PROCESSES;
 *      `1`: all in one process), Kafka Streams with 1 and 2 stream threads (BENCH_STREAMS_THREADS)
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
 * their ok writes (flowyard_writes_total), which each flowyard process reports to the suite
 * (measure.mjs `kafkasink` with `progress`), so the clock and the CPU (every flowyard process's
 * /proc, summed) are read here the same way for every shape.
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
/**
 * How flowyard's router + kafka-sink workers run (BENCH_FLOWYARD_PROCESSES): `per-role` as the
 * Helm chart deploys them (helm/flowyard/templates/deployments.yaml: the router in one process,
 * each destination's worker in its own, `flowyard run --roles worker --destinations <d>`), `1`
 * all in one process (`flowyard run` with every role; what figures 7 and 8 ran before).
 */
export const FLOWYARD_PROCESSES = ['per-role', '1'];
/** Figure 7's and 8's key of a flowyard system in a shape: the chart's shape keeps the old key. */
const sinksKey = (shape) => (shape === '1' ? 'routerKafkaSinksOneProcess' : 'routerKafkaSinks');
const latencyKey = (shape) => (shape === '1' ? 'flowyardOneProcess' : 'flowyard');
/** Kafka Streams exactly_once_v2 with `threads` stream threads (num.stream.threads; 1 is its default and the issue's baseline). */
const streamsKey = (threads) => (threads === 1 ? 'streamsEos' : `streamsEosT${threads}`);
const isFlowyard = (system) => system.startsWith('flowyard');
const LABELS = {
  copy: 'plain Java copy (ceiling)',
  streamsAlos: 'Kafka Streams at_least_once',
  streamsEos: 'Kafka Streams exactly_once_v2',
  router: 'flowyard router alone',
  routerKafkaSinks: 'flowyard router + kafka-sink workers, a process per role',
  routerKafkaSinksOneProcess: 'flowyard router + kafka-sink workers, one process',
  flowyard: 'flowyard router + kafka-sink workers, a process per role',
  flowyardOneProcess: 'flowyard router + kafka-sink workers, one process',
};
/** A system's name in the summary; the base build's and more stream threads' follow from it. */
function label(system) {
  if (system.endsWith('Base')) return `${label(system.slice(0, -'Base'.length))} (base build)`;
  const threads = /^streamsEosT(\d+)$/.exec(system)?.[1];
  return threads ? `Kafka Streams exactly_once_v2, ${threads} stream threads` : LABELS[system];
}
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
  const { flowyardProcesses: shapes, streamsThreads } = config;
  const streamsSystems = streamsThreads.map(streamsKey);
  // Figure 7's systems in the order of an even run (odd runs go backwards), so the shapes and
  // the Streams thread counts alternate which goes first. With a base build (BENCH_BASE_DIST):
  // each flowyard system of the base build right before the same system of this one.
  const withBase = (key) => (measureBase === undefined ? [key] : [`${key}Base`, key]);
  const throughputSystems = ['copy', 'streamsAlos', ...streamsSystems, ...withBase('router'), ...shapes.flatMap((shape) => withBase(sinksKey(shape)))];
  const latencySystems = [...shapes.map(latencyKey), ...streamsSystems];
  const peersDir = join(repo, 'bench', 'peers');
  const target = join(peersDir, 'target');
  const bootstrap = benchEnv().kafka.brokers.join(',');
  const broker = brokerPid(repo);

  function assertBuilt() {
    if (!existsSync(join(target, '.complete'))) throw new Error(`the Java peers are not built (${target}); run \`bash bench/peers/build.sh\` (make bench does)`);
  }

  /**
   * Starts one Java peer; `ready` resolves to performance.now() when it printed READY, or FIRST
   * (its first record, Kafka Streams only) when that came earlier: a Streams client with more
   * than one stream thread processes records while it still rebalances, before READY.
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
        if (line === 'READY' || line === 'FIRST') resolve(performance.now());
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

  /**
   * flowyard's router and its transactional kafka-sink workers of the topology `yaml` (measure.mjs
   * `kafkasink`, by `run`: this build's or the base build's) in `shape`: `1` one process with
   * every role, `per-role` one process per destination's worker and one for the router. Workers
   * start first, the router once they joined, so no shape's router gets a head start. Resolves
   * once every process reported ready (its roles started and its groups joined); `written` holds
   * the ok writes per destination as the processes report them (each destination's worker runs
   * in exactly one process, so each write is counted once), `stop()` ends them all and resolves
   * to their own results. `progress`: the processes report their writes (figure 7); else they
   * only run (figure 8, whose measurement is the sink topics').
   */
  async function startFlowyard(run, yaml, shape, tag, progress) {
    const { plan } = parseTopology(yaml, 'bench.yaml', {});
    const workers = plan.destinations.map((d) => ({ label: `worker-${d.name}`, roles: ['worker'], destinations: [d.name] }));
    const steps = shape === '1' ? [[{ label: 'all', roles: ['router', 'worker'] }]] : [workers, [{ label: 'router', roles: ['router'] }]];
    const written = {};
    const reporter = new Map();
    /** Destinations two processes reported writes for: would count a write twice (a bug of the shape, never expected). */
    const conflicts = new Set();
    const processes = [];
    const stop = async () => {
      for (const p of processes) if (p.child.exitCode === null && p.child.connected) p.child.send({ type: 'stop' });
      const results = [];
      for (const p of processes) {
        // A process that does not stop within 30 s is killed; the figure was taken by then.
        results.push(
          await withTimeout(30_000, () => p.result, () => new Error(`flowyard ${p.spec.label} did not stop within 30 s; killed`)).catch((error) => {
            p.child.kill('SIGKILL');
            return { error: String(error?.message ?? error) };
          }),
        );
      }
      return results.map((r, i) => ({ process: processes[i].spec.label, ...r }));
    };
    try {
      for (const step of steps) {
        await Promise.all(
          step.map(async (spec) => {
            let ready;
            const readyNow = new Promise((resolve) => (ready = resolve));
            const onMessage = (message) => {
              if (message.type === 'ready') ready(message);
              if (message.type !== 'written') return;
              for (const [destination, n] of Object.entries(message.written)) {
                if ((reporter.get(destination) ?? spec.label) !== spec.label) conflicts.add(`${destination} (${reporter.get(destination)}, ${spec.label})`);
                reporter.set(destination, spec.label);
                written[destination] = n;
              }
            };
            const job = { yaml, path: 'transactional', ...(progress ? { progress: true } : { steady: true }), roles: spec.roles, ...(spec.destinations && { destinations: spec.destinations }) };
            const p = { spec, ...run('kafkasink', job, onMessage, `${tag}-${spec.label}`) };
            processes.push(p);
            p.ready = await Promise.race([readyNow, p.result.then(() => Promise.reject(new Error(`flowyard ${spec.label} ended before it was ready`)))]);
          }),
        );
      }
    } catch (error) {
      await stop();
      throw error;
    }
    const client = benchEnv().kafka.client;
    const clients = processes.map((p) => p.ready.kafkaClient);
    if (clients.some((c) => c !== client)) throw new Error(`flowyard processes ran KAFKA_CLIENT ${clients.join(', ')}, the suite ${client}`);
    const pids = processes.map((p) => p.child.pid);
    return {
      readyAt: performance.now(),
      pids,
      written,
      destinations: plan.destinations.map((d) => d.name),
      /** CPU seconds of every flowyard process so far (start-up included), summed. */
      cpu: () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      startupRssMiB: processes.reduce((sum, p) => sum + (p.ready.memory?.rssMiB ?? Number.NaN), 0),
      kafkaClient: client,
      stop: async () => {
        const results = await stop();
        if (conflicts.size > 0) throw new Error(`destinations written by two processes: ${[...conflicts].join(', ')}`);
        return results;
      },
    };
  }

  /**
   * Figure 7's router + kafka-sink workers in `shape`: from every process ready until each
   * destination counted `events` ok writes, timed here in the suite the same way for every shape;
   * CPU is every flowyard process's (start-up included) when the last destination got there.
   */
  async function kafkaSinksJob(run, yaml, shape) {
    const { events, timeoutMs } = config.peers;
    const fy = await startFlowyard(run, yaml, shape, `peers-kafkasink-${shape}`, true);
    let processes;
    try {
      const least = () => Math.min(...fy.destinations.map((d) => fy.written[d] ?? 0));
      let doneAt = fy.readyAt;
      const held = await waitFor(
        () => {
          doneAt = performance.now();
          return least() >= events;
        },
        { intervalMs: 20, timeoutMs },
      );
      const cpu = fy.cpu();
      const written = { ...fy.written };
      const elapsedMs = doneAt - fy.readyAt;
      processes = await fy.stop();
      // A run cut off by the timeout still gives a rate: the backlog never ran dry before it.
      const done = Math.min(...fy.destinations.map((d) => written[d] ?? 0));
      return { shape, processes: processes.length, kafkaClient: fy.kafkaClient, elapsedMs, joinMs: Math.max(...processes.map((p) => p.joinMs ?? Number.NaN)), events: done, eventsPerSec: done / (elapsedMs / 1000), timedOut: !held, cpuSeconds: cpu, written, perProcess: processes };
    } finally {
      if (processes === undefined) await fy.stop();
    }
  }

  async function throughputRun(shared, run) {
    assertBuilt();
    const name = uniqueName('bench-peers');
    const source = `${name}.events`;
    const outputs = (system) => ['a', 'b', 'c'].map((d) => `${name}.${system}.${d}`);
    // A plan per flowyard system on the one source: groups, derived topics and sink topics of their own.
    const plans = {
      router: `${name}-router`,
      ...Object.fromEntries(shapes.map((shape) => [sinksKey(shape), `${name}-sinks${shape === '1' ? '1' : ''}`])),
    };
    if (measureBase !== undefined) for (const key of Object.keys(plans)) plans[`${key}Base`] = `${plans[key]}-base`;
    const yaml = (plan) => topologyYaml({ name: plan, source, mode: 'fanout', destinations: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    const { events } = config.peers;
    const stateDir = mkdtempSync(join(os.tmpdir(), 'flowyard-bench-streams-'));
    const admin = shared.kafka.admin();
    try {
      const routerPlan = parseTopology(yaml(plans.router), 'bench.yaml', {}).plan;
      await createBenchTopics(shared.kafka, routerPlan, [...outputs('copy'), ...outputs('alos'), ...streamsThreads.flatMap((n) => outputs(`eos${n}`))]);
      for (const plan of Object.keys(plans).filter((p) => p !== 'router')) await createBenchTopics(shared.kafka, parseTopology(yaml(plans[plan]), 'bench.yaml', {}).plan);
      const { records } = sampleEvents(routerPlan.source, { count: events, keys: KEYS, valueBytes: VALUE_BYTES, runId: name });
      const fillMs = await fill(shared.kafka, source, records);
      const codec = benchEnv().kafka.compression;
      const jobs = {
        copy: () => timeJava(admin, 'copy', { bootstrap, source, group: `${name}.copy`, outputs: outputs('copy').join(','), compression: codec }, events, committedReaches(`${name}.copy`, [source], events)),
        streamsAlos: () =>
          timeJava(admin, 'streams', { bootstrap, source, group: `${name}.alos`, outputs: outputs('alos').join(','), guarantee: 'at_least_once', stateDir, compression: codec }, events, watermarksReach(outputs('alos'), 3 * events)),
        ...Object.fromEntries(
          streamsThreads.map((threads) => [
            streamsKey(threads),
            () => timeJava(admin, 'streams', { bootstrap, source, group: `${name}.eos${threads}`, outputs: outputs(`eos${threads}`).join(','), guarantee: 'exactly_once_v2', stateDir, compression: codec, threads }, events, committedReaches(`${name}.eos${threads}`, [source], events)),
          ]),
        ),
        router: () => routerJob(measure, yaml(plans.router)),
        routerBase: () => routerJob(measureBase, yaml(plans.routerBase)),
        ...Object.fromEntries(
          shapes.flatMap((shape) => [
            [sinksKey(shape), () => kafkaSinksJob(measure, yaml(plans[sinksKey(shape)]), shape)],
            [`${sinksKey(shape)}Base`, () => kafkaSinksJob(measureBase, yaml(plans[`${sinksKey(shape)}Base`]), shape)],
          ]),
        ),
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
      const ratios = (against) => Object.fromEntries(throughputSystems.map((s) => [s, out[s].eventsPerSec === undefined || !against ? undefined : out[s].eventsPerSec / against]));
      out.ratioVsStreamsEos = ratios(out.streamsEos.eventsPerSec);
      // Against Kafka Streams with more stream threads too (BENCH_STREAMS_THREADS), e.g. one per core.
      for (const key of streamsSystems.filter((k) => k !== 'streamsEos')) out[`ratioVs${key[0].toUpperCase()}${key.slice(1)}`] = ratios(out[key].eventsPerSec);
      // Same run: one process per role and destination against all in one.
      if (out.routerKafkaSinks && out.routerKafkaSinksOneProcess) out.perRoleVsOneProcess = out.routerKafkaSinks.eventsPerSec / out.routerKafkaSinksOneProcess.eventsPerSec;
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
    const name = uniqueName(`bench-lat-${isFlowyard(system) ? 'fy' : 'ks'}`);
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
      if (isFlowyard(system)) await createBenchTopics(shared.kafka, plan);
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

      if (isFlowyard(system)) flowyard = await startFlowyard(measure, yaml, system === 'flowyard' ? 'per-role' : '1', `latency-${system}`, false);
      else {
        const threads = streamsThreads[streamsSystems.indexOf(system)];
        peer = javaPeer('streams', { bootstrap, source, group: `${name}.eos`, outputs: sinks.join(','), guarantee: 'exactly_once_v2', stateDir, compression: benchEnv().kafka.compression, threads });
        await withTimeout(120_000, () => peer.ready, () => new Error('Kafka Streams not READY within 120 s'));
      }
      // Every flowyard process's CPU (one per role and destination, or the one), or the JVM's.
      const cpuNow = () => (flowyard ? flowyard.cpu() : cpuSeconds(peer.child.pid));
      const cpuBefore = cpuNow();
      const brokerBefore = broker === undefined ? Number.NaN : cpuSeconds(broker);

      const producer = await shared.kafka.producer();
      const { t0, seconds: produceSeconds, sendDurations } = await produceSteadily(producer, source, records, rate, producedAt);
      await producer.disconnect();
      await waitFor(() => arrivals >= total * sinks.length, { intervalMs: 100, timeoutMs: drainTimeoutMs });
      const drainEnd = Date.now();
      const cpu = cpuNow() - cpuBefore;
      const brokerCpu = cpuSeconds(broker) - brokerBefore;
      let children;
      let startupRssMiB;
      if (flowyard) {
        startupRssMiB = flowyard.startupRssMiB;
        children = await flowyard.stop();
        flowyard = undefined;
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
        ...(isFlowyard(system) && {
          produceToRouter: summarize(measured.filter((i) => ingestedAt[i] > 0).map((i) => ingestedAt[i] - producedAt[i])),
          routerToSinkRecord: summarize(arrivedAt.flatMap((times) => measured.filter((i) => times[i] > 0 && ingestedAt[i] > 0).map((i) => times[i] - ingestedAt[i]))),
        }),
        repeats,
        cpuSecondsUnderLoad: round(cpu, 2),
        brokerCpuSecondsUnderLoad: round(brokerCpu, 2),
        load: os.loadavg().map((l) => round(l, 2)),
        ...(children && {
          processes: children.length,
          kafkaClient: children[0].kafkaClient,
          startupRssMiB: round(startupRssMiB),
          eventLoopDelayMs: Object.fromEntries(children.map((c) => [c.process, c.eventLoopDelayMs])),
          perProcess: children.map((c) => ({ process: c.process, kafkaClient: c.kafkaClient, joinMs: c.joinMs, eventLoopDelayMs: c.eventLoopDelayMs, cpuSeconds: round(c.cpuSeconds, 2), roundTrips: c.roundTrips, ...(c.error && { error: c.error }) })),
        }),
      };
    } finally {
      await flowyard?.stop().catch(() => undefined);
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
            ...Object.fromEntries(streamsSystems.filter((k) => k !== 'streamsEos').map((k) => [`ratioVs${k[0].toUpperCase()}${k.slice(1)}`, round(median(t.map((x) => x[`ratioVs${k[0].toUpperCase()}${k.slice(1)}`][s])), 3)])),
            cpuSeconds: round(median(t.map((x) => x[s].cpuSeconds)), 1),
            cpuMsPerEvent: round(median(t.map((x) => x[s].cpuMsPerEvent)), 3),
            brokerCpuSeconds: round(median(t.map((x) => x[s].brokerCpuSeconds)), 1),
            brokerCpuMsPerEvent: round(median(t.map((x) => x[s].brokerCpuMsPerEvent)), 3),
            timedOutRuns: t.filter((x) => x[s].timedOut).length,
          },
        ]),
      );
      // The issue's targets are against Kafka Streams' default (one stream thread), on the first shape asked for.
      const sinks = sinksKey(shapes[0]);
      m.peers.targets = {
        [sinks]: { target: `>= ${targets.kafkaSinksVsEos}x Kafka Streams EOS v2`, met: m.peers[sinks].ratioVsStreamsEos >= targets.kafkaSinksVsEos },
        router: { target: `>= ${targets.routerVsEos}x Kafka Streams EOS v2`, met: m.peers.router.ratioVsStreamsEos >= targets.routerVsEos },
      };
      const same = t.filter((x) => x.perRoleVsOneProcess !== undefined);
      if (same.length > 0) m.peers.perRoleVsOneProcess = { ratio: round(median(same.map((x) => x.perRoleVsOneProcess)), 3), runs: same.map((x) => round(x.perRoleVsOneProcess, 3)) };
    }
    for (const system of latencySystems) {
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
        ...(isFlowyard(system) && {
          produceToRouterP50Ms: round(median(l.map((x) => x.produceToRouter.p50))),
          produceToRouterP99Ms: round(median(l.map((x) => x.produceToRouter.p99))),
          routerToSinkP50Ms: round(median(l.map((x) => x.routerToSinkRecord.p50))),
          routerToSinkP99Ms: round(median(l.map((x) => x.routerToSinkRecord.p99))),
        }),
        cpuSecondsUnderLoad: round(median(l.map((x) => x.cpuSecondsUnderLoad)), 1),
        brokerCpuSecondsUnderLoad: round(median(l.map((x) => x.brokerCpuSecondsUnderLoad)), 1),
      };
    }
    // Same run: the one-process p99 over the per-role p99 (> 1: the chart's shape has the lower p99).
    const p99 = (system, run) => results.latency.find((x) => x.system === system && x.run === run)?.perSinkRecord.p99;
    const pairs = [...new Set(results.latency.map((x) => x.run))].map((run) => p99('flowyardOneProcess', run) / p99('flowyard', run)).filter(Number.isFinite);
    if (pairs.length > 0) m.latencyOneProcessVsPerRoleP99 = { ratio: round(median(pairs), 3), runs: pairs.map((r) => round(r, 3)) };
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
    const latency = m[`latency_${latencyKey(shapes[0])}`];
    if (latency) {
      latency.target = `p99 <= ${targets.latencyP99Ms} ms at ${config.latency.rate}/s`;
      latency.met = latency.p99Ms <= targets.latencyP99Ms && !latency.p99Censored;
    }
    return m;
  }

  function summaryLines(m) {
    const lines = [];
    const yes = (met) => (met ? 'met' : 'MISSED');
    if (m.peers) {
      lines.push(`fan-out x3 into Kafka topics, ${config.peers.events} events pre-filled       events/s   vs Streams EOS v2   CPU ms/event   broker ms/event   runs`);
      for (const s of throughputSystems) {
        const p = m.peers[s];
        const target = m.peers.targets[s] ? `   ${m.peers.targets[s].target}: ${yes(m.peers.targets[s].met)}` : '';
        const others = streamsSystems.filter((k) => k !== 'streamsEos').map((k) => `, ${p[`ratioVs${k[0].toUpperCase()}${k.slice(1)}`]}x vs ${label(k)}`).join('');
        lines.push(`  ${label(s).padEnd(64)} ${String(p.eventsPerSec).padEnd(10)} ${`${p.ratioVsStreamsEos}x`.padEnd(19)} ${String(p.cpuMsPerEvent).padEnd(14)} ${String(p.brokerCpuMsPerEvent).padEnd(17)} ${p.runs.join(', ')}${p.timedOutRuns ? ` (${p.timedOutRuns} cut off by the timeout)` : ''}${others && `;${others.slice(1)}`}${target}`);
      }
      if (m.peers.perRoleVsOneProcess) lines.push(`  (router + kafka sinks, one process per role / all in one process, same runs: ${m.peers.perRoleVsOneProcess.ratio}x; runs ${m.peers.perRoleVsOneProcess.runs.join(', ')})`);
    }
    for (const system of latencySystems) {
      const l = m[`latency_${system}`];
      if (!l) continue;
      const ge = l.p99Censored ? '>=' : '';
      lines.push(
        `e2e at ${config.latency.rate}/s into 3 kafka sinks, ${label(system)}: p50 ${l.p50Ms} ms, p99 ${ge}${l.p99Ms} ms per sink record (all three: ${l.allThreeP50Ms}/${l.allThreeP99Ms} ms); missing ${l.missing}, repeats ${l.repeats}` +
          (l.target ? `   ${l.target}: ${yes(l.met)}` : ''),
      );
      if (l.produceToRouterP50Ms !== undefined) lines.push(`  (of which produce -> router ingest p50/p99 ${l.produceToRouterP50Ms}/${l.produceToRouterP99Ms} ms; router ingest -> sink record ${l.routerToSinkP50Ms}/${l.routerToSinkP99Ms} ms; process CPU ${l.cpuSecondsUnderLoad} s, broker ${l.brokerCpuSecondsUnderLoad} s under load)`);
      else lines.push(`  (process CPU ${l.cpuSecondsUnderLoad} s, broker ${l.brokerCpuSecondsUnderLoad} s under load)`);
    }
    if (m.latencyOneProcessVsPerRoleP99) lines.push(`  (e2e p99, all in one process / one process per role, same runs: ${m.latencyOneProcessVsPerRoleP99.ratio}x; runs ${m.latencyOneProcessVsPerRoleP99.runs.join(', ')})`);
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

  return { throughputRun, latencyRun, httpRun, medians, summaryLines, latencySystems };
}
