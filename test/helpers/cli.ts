/**
 * Two ways tests run the CLI: in this process (fast; the commands' own output captured) and
 * as the installed command in a child process, as a user or a Kubernetes pod would.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.js';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
export const bin = `${repo}bin/flowyard.js`;

/** Every variable the configuration reads: dropped from a child's environment so each case sets what it needs. */
const CONFIG_VARS = /^(KAFKA_|REDIS_|SCHEMA_REGISTRY_URL$|FLOWYARD_|LOG_LEVEL$)/;

export interface CapturedCli {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `flowyard ...argv` in this process with stdout and stderr captured. */
export async function captureCli(...argv: string[]): Promise<CapturedCli> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    // Node's one-time warning about --experimental-vm-modules (how jest runs ESM) is not ours.
    if (!/ExperimentalWarning|--trace-warnings/.test(String(chunk))) err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await runCli(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
}

export interface ChildCli {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export function requireBuild(): void {
  if (!existsSync(`${repo}dist/cli/main.js`)) throw new Error('dist/ is missing: run `npm run -s build` first');
}

/**
 * Runs the built `node bin/flowyard.js ...args` with only `vars` of the configuration set;
 * SIGKILL after `hangMs`, so a command that should have ended shows as killed, not as a hung test.
 */
export function spawnCli(args: readonly string[], vars: Record<string, string>, hangMs: number): Promise<ChildCli> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARS.test(name)));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repo, env: { ...env, FLOWYARD_HTTP_PORT: '0', ...vars }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), hangMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}
