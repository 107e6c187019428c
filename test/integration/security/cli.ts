import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../../', import.meta.url));
/** Far longer than a refused login takes (~1 s); a command still running then hangs. */
export const HANG_MS = 30_000;
/** Every variable the configuration reads: dropped from the child's environment so each case sets what it needs. */
const CONFIG_VARS = /^(KAFKA_|REDIS_|SCHEMA_REGISTRY_URL$|FLOWYARD_|LOG_LEVEL$)/;

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function requireBuild(): void {
  if (!existsSync(`${repo}dist/cli/main.js`)) throw new Error('dist/ is missing: run `npm run -s build` first');
}

/** Runs the built `node bin/flowyard.js ...args` with only `vars` of the configuration set; SIGKILL after HANG_MS. */
export function flowyard(args: readonly string[], vars: Record<string, string>): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARS.test(name)));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${repo}bin/flowyard.js`, ...args], {
      cwd: repo,
      env: { ...env, FLOWYARD_HTTP_PORT: '0', ...vars },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
