/**
 * `make bench` (after `npm run build` and `make infra-up`): runs bench/suite.mjs against a
 * snapshot of the compiled code. Other work in this checkout rebuilds dist/ at any time; a
 * ten-minute run must measure one build, not a mix (or crash on a half-written file). So dist/,
 * bench/ and package.json are copied to a temporary directory (node_modules linked), the suite
 * runs from there, and results still land in <checkout>/bench/results/.
 *
 * Every knob of bench/suite.mjs passes through the environment, e.g.
 *   BENCH_RUNS=1 BENCH_ONLY=worker node bench/run.mjs
 * BENCH_BASE_DIST=<another build's dist/> snapshots that build too; figure 7 then runs its
 * flowyard systems from both builds in the same run (before/after a change, same harness).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
if (!existsSync(join(repo, 'dist', 'runtime', 'roles.js'))) {
  process.stderr.write('bench: dist/ is missing; run `npm run build` first (make bench does)\n');
  process.exit(2);
}

const snapshot = mkdtempSync(join(os.tmpdir(), 'flowyard-bench-'));
let status = 1;
try {
  cpSync(join(repo, 'dist'), join(snapshot, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  // Not results/, nor the Java peers' build (80 MB of jars): the suite runs those from the checkout.
  cpSync(here, join(snapshot, 'bench'), { recursive: true, filter: (src) => !src.startsWith(join(here, 'results')) && !src.startsWith(join(here, 'peers', 'target')) });
  copyFileSync(join(repo, 'package.json'), join(snapshot, 'package.json')); // "type": "module" for dist/*.js
  symlinkSync(join(repo, 'node_modules'), join(snapshot, 'node_modules'), 'dir');
  // BENCH_BASE_DIST: another build's dist/ (e.g. main's, before a change), run by this same harness next to this one (figure 7's flowyard systems).
  const baseDist = process.env.BENCH_BASE_DIST;
  const base = join(snapshot, 'base');
  if (baseDist !== undefined) {
    cpSync(baseDist, join(base, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
    cpSync(join(snapshot, 'bench'), join(base, 'bench'), { recursive: true });
    copyFileSync(join(repo, 'package.json'), join(base, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(base, 'node_modules'), 'dir');
  }
  const env = { ...process.env, BENCH_REPO: repo, ...(baseDist !== undefined && { BENCH_BASE_DIR: base }) };
  const run = spawnSync(process.execPath, [join(snapshot, 'bench', 'suite.mjs')], { stdio: 'inherit', env });
  status = run.status ?? 1;
} finally {
  rmSync(snapshot, { recursive: true, force: true });
}
process.exit(status);
