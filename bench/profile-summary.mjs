/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, written by `BENCH_PROFILE=1 make bench`):
 * self time per area (kafkajs, ioredis, flowyard's dist/, node internals, GC, idle) and the
 * hottest functions.
 *
 *   node bench/profile-summary.mjs bench/results/profiles/<stamp>/router-*.cpuprofile [--top 25] [--inclusive route,toHeaders]
 *
 * --inclusive: for each named function, the busy time of samples with it anywhere on the stack
 * (synchronous work only: an await ends the stack).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import process from 'node:process';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const top = Number(option('--top', '25'));
const inclusive = option('--inclusive', '').split(',').filter(Boolean);
const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const say = (line = '') => process.stdout.write(`${line}\n`);

function area(url, name) {
  if (name === '(garbage collector)' || name === '(idle)' || name === '(program)' || name === '(root)') return name;
  if (url === '') return '(native / builtin)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/')) return `flowyard ${url.slice(url.indexOf('/dist/') + 1).split('/').slice(0, 2).join('/')}`;
  if (url.includes('/bench/')) return 'bench harness';
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map();
  // samples[i] was taken timeDeltas[i] after the previous one; attribute each delta to the sampled node.
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const areas = new Map();
  const functions = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    const a = area(callFrame.url, callFrame.functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const where = callFrame.url ? `${callFrame.url.replace(/^.*\/(node_modules|dist|bench)\//, '$1/')}:${callFrame.lineNumber + 1}` : '';
    const fn = `${callFrame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    total += us;
  }
  const busy = total - (areas.get('(idle)') ?? 0);
  const within = new Map(inclusive.map((name) => [name, 0]));
  if (inclusive.length > 0) {
    for (const [id, us] of selfUs) {
      const names = new Set();
      for (let at = id; at !== undefined; at = parent.get(at)) names.add(byId.get(at).callFrame.functionName);
      for (const name of inclusive) if (names.has(name)) within.set(name, within.get(name) + us);
    }
  }
  const pct = (us, of) => `${((100 * us) / of).toFixed(1).padStart(5)}%`;
  say(`${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy`);
  say('  self time by area (share of busy time):');
  for (const [a, us] of [...areas].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, 15)) say(`    ${pct(us, busy)}  ${a}`);
  if (inclusive.length > 0) {
    say('  inclusive (function anywhere on the stack):');
    for (const [name, us] of within) say(`    ${pct(us, busy)}  ${name}`);
  }
  say(`  top ${top} functions by self time (share of busy time):`);
  for (const [fn, us] of [...functions].filter(([f]) => !f.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) say(`    ${pct(us, busy)}  ${fn}`);
  say();
}
