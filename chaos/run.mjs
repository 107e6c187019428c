/**
 * `make chaos` (node chaos/run.mjs [--quick] [--seed N] [--keep]): the fault scenario of
 * issue #14, black-box, on private servers.
 *
 * A fan-out topology to PostgreSQL (ledger), an HTTP receiver answering 503 to 25% of
 * requests (hook) and a Kafka topic (archive), run as separate `flowyard run --roles ...`
 * processes. While events are produced (1% poison, 5% ids sent again later), the run
 * SIGKILLs router and worker processes (each restarted a second later), kill -9s Redis and
 * the broker (each restarted), and stops PostgreSQL for 20 s. Then it waits for every
 * destination to drain and prints, per sink: lost, doubled (two 2xx for one id at the
 * receiver, two records for one id in the archive read read_committed, PostgreSQL's unique
 * conflict key makes a second write invisible there), per-key order violations; DLQ counts;
 * the highest RSS of any flowyard process; drain time after the last fault. Exit 0 only when
 * every target holds (0 lost, 0 doubled, 0 order violations, drain <= 60 s).
 *
 * Everything runs on 127.0.0.1: Kafka, Redis and PostgreSQL are started by infra/*.sh in a
 * temporary state folder on free ports and stopped at the end, never the shared servers.
 * The flowyard processes run a snapshot of dist/, so a rebuild meanwhile changes nothing.
 * Bounded: the whole run gives up after --max-minutes (default 25; quick 10).
 */
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { PrivateServers, freePort } from './servers.mjs';


const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string', default: '14' },
    keep: { type: 'boolean', default: false },
    'max-minutes': { type: 'string' },
  },
});
const quick = flags.quick;
const SCENARIO = {
  events: quick ? 2_000 : 20_000,
  keys: quick ? 100 : 500,
  poison: 0.01,
  resent: 0.05,
  failRatio: 0.25,
  kills: quick ? 6 : 25,
  /** Seconds over which events are produced and faults happen. */
  windowS: quick ? 45 : 150,
  postgresStopS: 20,
  drainTimeoutS: quick ? 180 : 300,
  maxMinutes: Number(flags['max-minutes'] ?? (quick ? 10 : 25)),
};

/** Mulberry32: a seeded generator, so two runs with one seed make the same events and faults. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(Number(flags.seed));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
const say = (line) => process.stdout.write(`[chaos ${elapsed()}s] ${line}\n`);

if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) {
  process.stderr.write('chaos: dist/ is missing; run `npm run build` first (make chaos does)\n');
  process.exit(2);
}
// flowyard's producers compress (lz4 by default); this harness's own kafkajs clients (a producer and a
// verifying reader outside flowyard) read only gzip without the codecs flowyard's kafkajs backend registers.
const { registerCodecs } = await import(join(repo, 'dist', 'kafka', 'kafkajs', 'codecs.js'));
registerCodecs();

// ---- private servers and a snapshot of the build ------------------------------------------

const dir = mkdtempSync(join(os.tmpdir(), 'flowyard-chaos-'));
chmodSync(dir, 0o755); // PostgreSQL runs as its own user and must reach its data folder
const snapshot = join(dir, 'flowyard');
mkdirSync(snapshot);
cpSync(join(repo, 'dist'), join(snapshot, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
cpSync(join(repo, 'bin'), join(snapshot, 'bin'), { recursive: true });
cpSync(join(repo, 'package.json'), join(snapshot, 'package.json'));
symlinkSync(join(repo, 'node_modules'), join(snapshot, 'node_modules'), 'dir');
const commit = (() => {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

const servers = await PrivateServers.allocate(repo, dir);
const hookPort = await freePort();
const children = new Map(); // name -> { child, spec }
let receiver;
let consumer;
let db;
let finished = false;

async function teardown() {
  finished = true;
  for (const { child } of children.values()) child.kill('SIGKILL');
  await consumer?.disconnect().catch(() => undefined);
  await db?.end().catch(() => undefined);
  receiver?.close();
  for (const name of ['postgres', 'redis', 'kafka']) await servers.down(name).catch((error) => say(`stopping private ${name}: ${error.message}`));
  if (flags.keep) say(`kept ${dir} (logs: flowyard-*.log, infra.log)`);
  else rmSync(dir, { recursive: true, force: true });
}
process.once('SIGINT', () => void teardown().then(() => process.exit(130)));
const bound = setTimeout(() => {
  say(`gave up after ${SCENARIO.maxMinutes} minutes`);
  void teardown().then(() => process.exit(1));
}, SCENARIO.maxMinutes * 60_000);
bound.unref();

// ---- what each destination received ------------------------------------------------------

/** Per sink: event id -> times delivered; key -> n values in delivery order. */
function sinkRecord() {
  return { count: new Map(), order: new Map() };
}
const seen = { ledger: sinkRecord(), hook: sinkRecord(), archive: sinkRecord() };
function delivered(sink, eventId, key, n) {
  const record = seen[sink];
  record.count.set(eventId, (record.count.get(eventId) ?? 0) + 1);
  if (!record.order.has(key)) record.order.set(key, []);
  record.order.get(key).push({ eventId, n });
}
const deadLetters = { byClass: new Map(), ids: { ledger: new Set(), hook: new Set(), archive: new Set() }, invalid: 0 };
let hookRequests = 0;
let hookRefused = 0;

function startReceiver() {
  const failRandom = seeded(Number(flags.seed) + 1);
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (c) => chunks.push(c));
    request.on('end', () => {
      hookRequests += 1;
      if (failRandom() < SCENARIO.failRatio) {
        hookRefused += 1;
        response.writeHead(503).end();
        return;
      }
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      delivered('hook', String(request.headers['idempotency-key']), event.customerId, event.n);
      response.writeHead(200).end();
    });
  });
  return new Promise((resolve) => server.listen(hookPort, '127.0.0.1', () => resolve(server)));
}

// ---- the flowyard processes ---------------------------------------------------------------

const topologyFile = join(dir, 'chaos.yaml');
const PROCESSES = [
  { name: 'router-1', args: ['--roles', 'router'], killable: true },
  { name: 'router-2', args: ['--roles', 'router'], killable: true },
  { name: 'ledger-1', args: ['--roles', 'worker', '--destinations', 'ledger'], killable: true },
  { name: 'hook-1', args: ['--roles', 'worker', '--destinations', 'hook'], killable: true },
  { name: 'hook-2', args: ['--roles', 'worker', '--destinations', 'hook'], killable: true },
  { name: 'archive-1', args: ['--roles', 'worker', '--destinations', 'archive'], killable: true },
  { name: 'tracker-1', args: ['--roles', 'tracker'], killable: false },
];
let maxRssKb = 0;

function flowyardEnv() {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KAFKA_BROKERS: servers.kafkaBrokers,
    REDIS_URL: servers.redisUrl,
    FLOWYARD_HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
  };
}

function startProcess(spec) {
  const log = createWriteStream(join(dir, `flowyard-${spec.name}.log`), { flags: 'a' });
  const child = spawn(process.execPath, [join(snapshot, 'bin', 'flowyard.js'), 'run', topologyFile, ...spec.args], { env: flowyardEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.set(spec.name, { child, spec });
}

function rssKb(pid, field) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) : 0;
  } catch {
    return 0;
  }
}
const rssSampler = setInterval(() => {
  for (const { child } of children.values()) maxRssKb = Math.max(maxRssKb, rssKb(child.pid, 'VmHWM'));
}, 1_000);
rssSampler.unref();

async function killProcess(name) {
  const { child, spec } = children.get(name);
  maxRssKb = Math.max(maxRssKb, rssKb(child.pid, 'VmHWM'));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  await sleep(1_000);
  if (!finished) startProcess(spec);
}

// ---- events -------------------------------------------------------------------------------

/** The source records in production order, and what must come out. */
function makeEvents() {
  const records = [];
  const valid = new Map(); // eventId -> { key, n }
  let poison = 0;
  let resent = 0;
  for (let i = 0; i < SCENARIO.events; i += 1) {
    const key = `customer-${Math.floor(random() * SCENARIO.keys)}`;
    if (random() < SCENARIO.poison) {
      poison += 1;
      records.push({ key, value: `{"customerId":"${key}","n":${i},"eventId":"poison-${i}"` }); // not JSON: the closing brace is missing
      continue;
    }
    const eventId = `ev-${i}`;
    const value = JSON.stringify({ eventId, customerId: key, n: i, amount: (i % 97) + 0.5 });
    valid.set(eventId, { key, n: i });
    records.push({ key, value });
    if (random() < SCENARIO.resent && records.length > 1) {
      // An earlier event sent again (a producer retrying): same key, same bytes, later offset.
      const earlier = records[Math.floor(random() * records.length)];
      if (!earlier.value.endsWith('"')) {
        records.push({ ...earlier });
        resent += 1;
      }
    }
  }
  return { records, valid, poison, resent };
}

async function produceAll(kafka, records) {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 10 } });
  await producer.connect();
  const ticks = SCENARIO.windowS * 4;
  const perTick = Math.ceil(records.length / ticks);
  for (let i = 0; i < records.length; i += perTick) {
    const batch = records.slice(i, i + perTick);
    const tickStart = Date.now();
    // The broker is killed meanwhile: retry the batch until it is in (a repeat is only a re-sent id).
    for (;;) {
      try {
        await producer.send({ topic: 'chaos.events', messages: batch });
        break;
      } catch (error) {
        say(`producing a batch failed (${error.message}); retrying`);
        await sleep(1_000);
      }
    }
    await sleep(Math.max(0, 250 - (Date.now() - tickStart)));
  }
  await producer.disconnect();
}

// ---- faults -------------------------------------------------------------------------------

let lastFaultEnd = 0;
const faultLog = [];
async function fault(name, action) {
  const at = Date.now();
  await action();
  lastFaultEnd = Math.max(lastFaultEnd, Date.now());
  faultLog.push(`${name} at ${((at - started) / 1000).toFixed(0)}s (${((Date.now() - at) / 1000).toFixed(1)} s)`);
}

async function runFaults() {
  const windowMs = SCENARIO.windowS * 1000;
  const t0 = Date.now();
  const at = (fraction) => sleep(Math.max(0, t0 + fraction * windowMs - Date.now()));
  const killable = PROCESSES.filter((p) => p.killable).map((p) => p.name);
  const kills = Array.from({ length: SCENARIO.kills }, (_, i) => ({ when: 0.05 + (0.9 * i) / Math.max(1, SCENARIO.kills - 1), target: killable[Math.floor(random() * killable.length)] }));
  const big = [
    { when: 0.3, name: 'redis kill -9', action: async () => (await servers.kill9('redis'), await sleep(2_000), await servers.up('redis')) },
    { when: 0.5, name: 'broker kill -9', action: async () => (await servers.kill9('kafka'), await sleep(5_000), await servers.up('kafka')) },
    { when: 0.7, name: `postgres stopped ${SCENARIO.postgresStopS} s`, action: async () => (await servers.down('postgres'), await sleep(SCENARIO.postgresStopS * 1000), await servers.up('postgres')) },
  ];
  const killing = (async () => {
    for (const kill of kills) {
      await at(kill.when);
      await fault(`SIGKILL ${kill.target}`, () => killProcess(kill.target));
    }
  })();
  const others = big.map(async (f) => {
    await at(f.when);
    say(f.name);
    await fault(f.name, f.action);
    say(`${f.name}: back`);
  });
  await Promise.all([killing, ...others]);
}

// ---- reading back -------------------------------------------------------------------------

async function startReadBack(kafka) {
  consumer = kafka.consumer({ groupId: `chaos-read-${Date.now()}`, readUncommitted: false, maxWaitTimeInMs: 250 });
  // kafkajs restarts a consumer after retriable errors only; this read must outlive the broker's kill.
  consumer.on(consumer.events.CRASH, ({ payload }) => say(`read-back consumer crashed (${payload.error.message}); restart: ${payload.restart}`));
  await consumer.connect();
  await consumer.subscribe({ topics: ['chaos.archive', 'chaos.dlq'], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const header = (name) => message.headers?.[name]?.toString();
      if (topic === 'chaos.archive') {
        const event = JSON.parse(message.value.toString('utf8'));
        delivered('archive', header('fy-event-id') ?? event.eventId, event.customerId, event.n);
        return;
      }
      const destination = header('fy-destination') ?? '?';
      const cls = header('fy-error-class') ?? '?';
      const label = `${destination}/${cls}`;
      deadLetters.byClass.set(label, (deadLetters.byClass.get(label) ?? 0) + 1);
      if (destination === 'router' && cls === 'invalid') deadLetters.invalid += 1;
      const id = header('fy-event-id');
      if (id && deadLetters.ids[destination]) deadLetters.ids[destination].add(id);
    },
  });
}

async function readLedger() {
  const rows = await db.query('select event_id, customer_id, n from chaos_ledger order by seq');
  seen.ledger = sinkRecord();
  for (const row of rows.rows) delivered('ledger', row.event_id, row.customer_id, row.n);
}

function missing(sink, valid) {
  return [...valid.keys()].filter((id) => !seen[sink].count.has(id) && !deadLetters.ids[sink].has(id));
}

/** Per key, deliveries whose n is below one delivered before it (a repeat of one id counts as doubled, not here). */
function orderViolations(sink) {
  let violations = 0;
  for (const deliveries of seen[sink].order.values()) {
    const firstSeen = new Set();
    let last = -1;
    for (const { eventId, n } of deliveries) {
      if (firstSeen.has(eventId)) continue;
      firstSeen.add(eventId);
      if (n < last) violations += 1;
      last = Math.max(last, n);
    }
  }
  return violations;
}

// ---- the run ------------------------------------------------------------------------------

let exitCode = 1;
try {
  say(`scenario: ${JSON.stringify({ ...SCENARIO, seed: Number(flags.seed) })}; state folder ${dir}`);
  for (const name of ['kafka', 'redis', 'postgres']) {
    await servers.up(name);
    say(`private ${name} up`);
  }
  receiver = await startReceiver();
  writeFileSync(
    topologyFile,
    `name: chaos
source: { topic: chaos.events, key: customerId, id: eventId }
mode: fanout
partitions: 6
destinations:
  - name: ledger
    sink: { type: postgres, url: "${servers.postgresUrl}", table: chaos_ledger, conflictKey: event_id, columns: { event_id: $eventId, customer_id: $key, n: n } }
    timeoutMs: 2000
    concurrency: 16
  - name: hook
    sink: { type: http, url: "http://127.0.0.1:${hookPort}/hook" }
    retry: { maxAttempts: 10, initialDelayMs: 50, maxDelayMs: 2000, budgetRatio: 0.5 }
    concurrency: 16
  - name: archive
    sink: { type: kafka, topic: chaos.archive }
    concurrency: 16
`,
  );
  db = new pg.Client({ connectionString: servers.postgresUrl });
  db.on('error', () => undefined); // PostgreSQL is stopped on purpose; the read-back reconnects
  await db.connect();
  await db.query('create table chaos_ledger (seq bigserial, event_id text primary key, customer_id text not null, n integer not null)');
  await db.end();
  db = undefined;
  execFileSync(process.execPath, [join(snapshot, 'bin', 'flowyard.js'), 'topics', 'create', topologyFile], { env: flowyardEnv(), stdio: 'ignore' });

  const kafka = new Kafka({ clientId: 'chaos', brokers: [servers.kafkaBrokers], logLevel: logLevel.NOTHING, retry: { retries: 20 } });
  await startReadBack(kafka);
  for (const spec of PROCESSES) startProcess(spec);
  say(`started ${PROCESSES.length} flowyard processes`);

  const { records, valid, poison, resent } = makeEvents();
  say(`producing ${records.length} records over ${SCENARIO.windowS} s: ${valid.size} events, ${poison} poison, ${resent} sent again`);
  let producedEnd = 0;
  await Promise.all([produceAll(kafka, records).then(() => (producedEnd = Date.now())), runFaults()]);
  say(`faults over (${faultLog.length}) and every record produced`);

  // Drain: every event at every sink or in that sink's dead letters, every poison record dead-lettered.
  const drainStart = lastFaultEnd;
  let drained = false;
  const ledgerDb = async () => {
    db = new pg.Client({ connectionString: servers.postgresUrl });
    db.on('error', () => undefined);
    await db.connect();
  };
  await ledgerDb();
  while (Date.now() - drainStart < SCENARIO.drainTimeoutS * 1000) {
    await readLedger();
    const left = Object.fromEntries(['ledger', 'hook', 'archive'].map((s) => [s, missing(s, valid).length]));
    if (Object.values(left).every((n) => n === 0) && deadLetters.invalid >= poison) {
      drained = true;
      break;
    }
    say(`draining: missing ${JSON.stringify(left)}, poison dead-lettered ${deadLetters.invalid}/${poison}`);
    await sleep(2_000);
  }
  const drainS = (Date.now() - drainStart) / 1000;
  await sleep(5_000); // repeats that would come late (a redelivery after the last delivery) still show
  await readLedger();

  const logs = PROCESSES.map((p) => readFileSync(join(dir, `flowyard-${p.name}.log`), 'utf8')).join('');
  const stateLostLines = logs.split('\n').filter((l) => l.includes("Redis lost flowyard's state")).length;
  // Where a drain went: each process's circuit changes (a destination's circuit waits halfOpenAfterMs before it probes).
  const circuits = Object.fromEntries(
    PROCESSES.map((p) => [p.name, readFileSync(join(dir, `flowyard-${p.name}.log`), 'utf8').split('\n').filter((l) => l.includes('"msg":"circuit open"')).length]).filter(([, n]) => n > 0),
  );
  const doubled = (sink) => [...seen[sink].count.values()].filter((c) => c > 1).length;
  const result = {
    date: new Date().toISOString(),
    commit,
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    scenario: { ...SCENARIO, seed: Number(flags.seed), validEvents: valid.size, poison, resent },
    faults: faultLog,
    sinks: Object.fromEntries(
      ['ledger', 'hook', 'archive'].map((s) => [s, { delivered: seen[s].count.size, lost: missing(s, valid).length, doubled: doubled(s), orderViolations: orderViolations(s), deadLettered: deadLetters.ids[s].size }]),
    ),
    hook: { requests: hookRequests, answered503: hookRefused },
    deadLetters: Object.fromEntries(deadLetters.byClass),
    maxRssMiB: Math.round(maxRssKb / 1024),
    drained,
    drainSecondsAfterLastFault: Number(drainS.toFixed(1)),
    // The producer waits out the broker's outage, so the last records can go out after the last fault.
    drainSecondsAfterLastRecordProduced: Number((drainS - (producedEnd - drainStart) / 1000).toFixed(1)),
    lastFaultEndedAtS: Number(((lastFaultEnd - started) / 1000).toFixed(1)),
    lastRecordProducedAtS: Number(((producedEnd - started) / 1000).toFixed(1)),
    stateLostErrorLines: stateLostLines,
    circuitOpenedPerProcess: circuits,
  };
  const targets = {
    'lost 0': Object.values(result.sinks).every((s) => s.lost === 0),
    'doubled 0': Object.values(result.sinks).every((s) => s.doubled === 0),
    'order violations 0': Object.values(result.sinks).every((s) => s.orderViolations === 0),
    'drain <= 60 s': drained && drainS <= 60,
  };
  result.targets = targets;
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', `${quick ? 'quick' : 'full'}-last.json`), `${JSON.stringify(result, null, 2)}\n`);

  process.stdout.write(`\nchaos ${quick ? '(quick) ' : ''}at ${result.date}, commit ${commit}, ${result.machine}\n`);
  process.stdout.write(`${valid.size} events (+${poison} poison, +${resent} sent again) over ${SCENARIO.keys} keys; faults: ${faultLog.length}\n\n`);
  process.stdout.write('sink      delivered  lost  doubled  order-violations  dead-lettered\n');
  for (const [name, s] of Object.entries(result.sinks)) {
    process.stdout.write(`${name.padEnd(9)} ${String(s.delivered).padStart(9)} ${String(s.lost).padStart(5)} ${String(s.doubled).padStart(8)} ${String(s.orderViolations).padStart(17)} ${String(s.deadLettered).padStart(14)}\n`);
  }
  process.stdout.write(`\nledger doubled: 0 by construction (unique conflict key; a second INSERT is invisible)\n`);
  process.stdout.write(`hook: ${hookRequests} requests, ${hookRefused} answered 503\n`);
  process.stdout.write(`dead letters: ${JSON.stringify(result.deadLetters)}\n`);
  process.stdout.write(`max RSS of a flowyard process: ${result.maxRssMiB} MiB\n`);
  process.stdout.write(
    `drain after the last fault (at ${result.lastFaultEndedAtS} s): ${drained ? `${result.drainSecondsAfterLastFault} s` : `NOT drained within ${SCENARIO.drainTimeoutS} s`}; after the last record produced (at ${result.lastRecordProducedAtS} s): ${result.drainSecondsAfterLastRecordProduced} s\n`,
  );
  process.stdout.write(`"Redis lost flowyard's state" error lines: ${stateLostLines}; circuits opened: ${JSON.stringify(circuits)}\n`);
  process.stdout.write(`targets: ${Object.entries(targets).map(([k, ok]) => `${k} ${ok ? 'met' : 'MISSED'}`).join(', ')}\n`);
  exitCode = Object.values(targets).every(Boolean) ? 0 : 1;
} catch (error) {
  say(`failed: ${error.stack ?? error}`);
} finally {
  clearInterval(rssSampler);
  await teardown();
}
process.exit(exitCode);
