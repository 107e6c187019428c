/**
 * A private PostgreSQL cluster on a free port, for tests that stop and restart the server.
 * The shared PostgreSQL of `make infra-up` serves every other test at the same time, so a
 * test that takes a database away must own one: initdb into a temp dir, pg_ctl start/stop on
 * a port of its own, and everything removed afterwards, also when the test fails.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { eventually, freePort } from './servers.js';

const run = promisify(execFile);

/** The cluster's superuser; also the OS user initdb and postgres run as under root (Debian creates it). */
const OWNER = 'postgres';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory holding initdb, pg_ctl and postgres, found as infra/postgres.sh finds it: a
 * pg_ctl on PATH with its siblings beside it (after resolving a symlink such as Debian's
 * /usr/local/bin one), else the newest /usr/lib/postgresql/<version>/bin.
 */
export function findPostgresBin(): string {
  const complete = (dir: string) => ['pg_ctl', 'initdb', 'postgres'].every((name) => executable(join(dir, name)));
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'pg_ctl');
    if (dir === '' || !existsSync(candidate)) continue;
    const resolved = dirname(realpathSync(candidate));
    if (complete(resolved)) return resolved;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const dir = join(root, version, 'bin');
    if (complete(dir)) return dir;
  }
  throw new Error('PostgreSQL server programs (pg_ctl, initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; run make infra-up, which installs them');
}

export class PrivatePostgres {
  private running = false;
  private readonly cleanupOnExit = () => this.destroySync();

  private constructor(
    readonly port: number,
    /** Temp dir holding the data dir, the socket and the log; removed by destroy(). */
    readonly dir: string,
    private readonly bin: string,
  ) {}

  /** initdb into a fresh temp dir on a free port; call start() next and destroy() in a finally. */
  static async create(): Promise<PrivatePostgres> {
    const bin = findPostgresBin();
    const dir = mkdtempSync(join(tmpdir(), 'flowyard-pg-'));
    const server = new PrivatePostgres(await freePort(), dir, bin);
    // A crashed or interrupted test run must not leave a postgres running on a random port.
    process.once('exit', server.cleanupOnExit);
    try {
      if (userInfo().uid === 0) {
        // initdb and postgres refuse to run as root; the cluster belongs to the postgres user.
        const { uid, gid } = ownerIds();
        chownSync(dir, uid, gid);
      }
      await server.asOwner('initdb', ['-D', server.dataDir, '-U', OWNER, '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync']);
    } catch (error) {
      server.destroySync();
      throw new Error(`initdb of a private PostgreSQL in ${dir} failed: ${(error as Error).message}`, { cause: error });
    }
    return server;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get logFile(): string {
    return join(this.dir, 'postgres.log');
  }

  /** The database `postgres` as its superuser (trust authentication on 127.0.0.1 only). */
  get url(): string {
    return `postgres://${OWNER}@127.0.0.1:${this.port}/postgres`;
  }

  /** Starts the server (again, on the same port and data) and waits until it answers a query. */
  async start(): Promise<void> {
    try {
      // fsync=off: the data is thrown away after the test; an immediate stop still keeps
      // every committed row, since the OS (not the disk) holds it across a server restart.
      await this.asOwner('pg_ctl', [
        'start', '-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60',
        '-o', `-c listen_addresses=127.0.0.1 -p ${this.port} -c unix_socket_directories=${this.dir} -c fsync=off`,
      ]);
    } catch (error) {
      throw new Error(`private PostgreSQL on port ${this.port} did not start: ${(error as Error).message}\n${this.logTail()}`, { cause: error });
    }
    this.running = true;
    // Accepting is not enough after an immediate stop: the server may still be recovering.
    const answers = await eventually(async () => {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2_000 });
      try {
        await client.connect();
        return (await client.query('select 1 as one')).rows[0]?.one === 1;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, 30_000, 200);
    if (!answers) throw new Error(`private PostgreSQL on port ${this.port} started but answered no query within 30 s\n${this.logTail()}`);
  }

  /**
   * Stops the server for real. `immediate` is a crash as far as clients can tell: open
   * connections are cut without a goodbye and the next start recovers from the WAL.
   */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    if (!this.running) return;
    await this.asOwner('pg_ctl', ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', '30']);
    this.running = false;
  }

  /** Stops the server if it runs and removes the temp dir; safe to call more than once. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      this.destroySync();
    }
  }

  /** The synchronous cleanup, also run at process exit, where no promise completes. */
  private destroySync(): void {
    process.removeListener('exit', this.cleanupOnExit);
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) {
      const [command, args] = this.ownerCommand('pg_ctl', ['stop', '-D', this.dataDir, '-m', 'immediate', '-w', '-t', '30']);
      spawnSync(command, args, { stdio: 'ignore' });
    }
    this.running = false;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private logTail(): string {
    try {
      return `last lines of ${this.logFile}:\n${readFileSync(this.logFile, 'utf8').split('\n').slice(-20).join('\n')}`;
    } catch {
      return `(no log at ${this.logFile})`;
    }
  }

  private ownerCommand(program: string, args: readonly string[]): [string, string[]] {
    const path = join(this.bin, program);
    return userInfo().uid === 0 ? ['runuser', ['-u', OWNER, '--', path, ...args]] : [path, [...args]];
  }

  private async asOwner(program: string, args: readonly string[]): Promise<void> {
    const [command, commandArgs] = this.ownerCommand(program, args);
    try {
      await run(command, commandArgs, { timeout: 90_000 });
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`${program} ${args.join(' ')}: ${(stderr || stdout || (error as Error).message).trim()}`, { cause: error });
    }
  }
}

/** The uid and gid of the postgres OS user, for chown under root. */
function ownerIds(): { uid: number; gid: number } {
  const result = spawnSync('id', ['-u', OWNER], { encoding: 'utf8' });
  const group = spawnSync('id', ['-g', OWNER], { encoding: 'utf8' });
  if (result.status !== 0 || group.status !== 0) {
    throw new Error(`running as root, and initdb refuses root, but there is no '${OWNER}' user to run it as (the Debian postgresql package creates one)`);
  }
  return { uid: Number(result.stdout.trim()), gid: Number(group.stdout.trim()) };
}
