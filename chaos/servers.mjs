/**
 * The chaos run's own Kafka, Redis and PostgreSQL: started by the project's infra scripts
 * with another state folder and other ports, so killing them never touches the servers
 * other work on this machine uses. Every address is 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout } from 'node:timers';

/** A free TCP port on 127.0.0.1 (bound once and released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export class PrivateServers {
  /** @param {string} repo @param {string} dir state folder (FLOWYARD_STATE_DIR) */
  constructor(repo, dir, ports) {
    this.repo = repo;
    this.dir = dir;
    this.ports = ports;
    this.log = createWriteStream(join(dir, 'infra.log'), { flags: 'a' });
    this.env = {
      ...process.env,
      FLOWYARD_STATE_DIR: dir,
      FLOWYARD_KAFKA_PORT: String(ports.kafka),
      FLOWYARD_KAFKA_CONTROLLER_PORT: String(ports.kafkaController),
      FLOWYARD_KAFKA_SASL_PORT: String(ports.kafkaSasl),
      FLOWYARD_KAFKA_SSL_PORT: String(ports.kafkaSsl),
      FLOWYARD_REDIS_PORT: String(ports.redis),
      FLOWYARD_POSTGRES_PORT: String(ports.postgres),
    };
  }

  static async allocate(repo, dir) {
    const ports = {};
    for (const name of ['kafka', 'kafkaController', 'kafkaSasl', 'kafkaSsl', 'redis', 'postgres']) ports[name] = await freePort();
    return new PrivateServers(repo, dir, ports);
  }

  get kafkaBrokers() {
    return `127.0.0.1:${this.ports.kafka}`;
  }
  get redisUrl() {
    return `redis://127.0.0.1:${this.ports.redis}`;
  }
  get postgresUrl() {
    return `postgres://postgres@127.0.0.1:${this.ports.postgres}/flowyard`;
  }

  /** Runs `infra/<name>.sh <action>` on the private folder and ports; rejects on a non-zero exit. */
  script(name, action) {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [join(this.repo, 'infra', `${name}.sh`), action], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.pipe(this.log, { end: false });
      child.stderr.pipe(this.log, { end: false });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`infra/${name}.sh ${action} exited ${code}; log: ${join(this.dir, 'infra.log')}`))));
    });
  }

  up(name) {
    return this.script(name, 'up');
  }
  down(name) {
    return this.script(name, 'down');
  }

  /** The server's main process id, from the file its infra script (or PostgreSQL) writes. */
  pid(name) {
    const file = { kafka: join(this.dir, 'kafka', 'kafka.pid'), redis: join(this.dir, 'redis', 'redis.pid'), postgres: join(this.dir, 'postgres', 'data', 'postmaster.pid') }[name];
    return Number(readFileSync(file, 'utf8').split('\n')[0].trim());
  }

  /** kill -9 of the server's process; resolves once it is gone. */
  async kill9(name) {
    const pid = this.pid(name);
    process.kill(pid, 'SIGKILL');
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
