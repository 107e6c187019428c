import { readFileSync } from 'node:fs';
import { InvalidInputError } from '../errors.js';
import { KAFKA_CLIENT_NAMES } from '../kafka/backends.js';
import { COMPRESSIONS, DEFAULT_COMPRESSION, type Compression } from '../kafka/compression.js';
import type { KafkaClientName } from '../kafka/port.js';

/**
 * Process configuration from the environment (docs/architecture.md §8), validated once at start.
 * Every bad value is reported together, each naming the variable and what it expects;
 * the CLI turns that into exit code 2.
 */
export interface KafkaSasl {
  readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  readonly username: string;
  readonly password: string;
}

export interface TlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface KafkaConnection {
  /** The client library behind the Kafka port (KAFKA_CLIENT); absent: platformatic. */
  readonly client?: KafkaClientName;
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly sasl?: KafkaSasl;
  /** Present when TLS is on; file contents already read. */
  readonly tls?: TlsFiles;
  /** Codec of the record batches flowyard's producers write (KAFKA_COMPRESSION); absent: DEFAULT_COMPRESSION. */
  readonly compression?: Compression;
}

export interface RedisConnection {
  readonly url: string;
  readonly password?: string;
  readonly tls?: TlsFiles;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Env {
  readonly kafka: KafkaConnection;
  readonly redis: RedisConnection;
  readonly schemaRegistryUrl?: string;
  /** Port of /metrics, /healthz, /readyz; 0 picks a free port. */
  readonly httpPort: number;
  readonly logLevel: LogLevel;
  /** Upper bound for a graceful shutdown before the process exits anyway. */
  readonly shutdownTimeoutMs: number;
  /** How long a dependency that is down at start (Redis, Kafka, a destination) is waited for; 0 = no bound. */
  readonly startTimeoutMs: number;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
const PEM = {
  ca: /-----BEGIN CERTIFICATE-----/,
  cert: /-----BEGIN CERTIFICATE-----/,
  key: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
} as const;
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;

type Vars = Readonly<Record<string, string | undefined>>;

/** Reads and validates the environment; throws InvalidInputError listing every bad variable. */
export function loadEnv(vars: Vars = process.env): Env {
  const problems: string[] = [];
  const reader = new EnvReader(vars, problems);

  const brokers = reader.brokers('KAFKA_BROKERS', '127.0.0.1:9092');
  const kafkaSasl = reader.sasl();
  const kafkaTls = reader.tls('KAFKA');
  const compression = reader.oneOf('KAFKA_COMPRESSION', DEFAULT_COMPRESSION, COMPRESSIONS);
  const kafkaClient = reader.oneOf<KafkaClientName>('KAFKA_CLIENT', 'platformatic', KAFKA_CLIENT_NAMES);
  const redisUrl = reader.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
  const redisPassword = reader.secret('REDIS_PASSWORD');
  const redisTls = reader.tls('REDIS', redisUrl?.startsWith('rediss:') ?? false);
  const schemaRegistryUrl = reader.url('SCHEMA_REGISTRY_URL', undefined, ['http:', 'https:']);
  const httpPort = reader.integer('FLOWYARD_HTTP_PORT', 9400, 0, 65535);
  const logLevel = reader.oneOf('LOG_LEVEL', 'info', LOG_LEVELS);
  const shutdownTimeoutMs = reader.integer('FLOWYARD_SHUTDOWN_TIMEOUT_MS', 30_000, 100, 600_000);
  const startTimeoutMs = reader.integer('FLOWYARD_START_TIMEOUT_MS', 300_000, 0, 86_400_000);
  const clientId = vars.FLOWYARD_CLIENT_ID?.trim() || 'flowyard';

  if (problems.length > 0) {
    throw new InvalidInputError(`invalid environment: ${problems.join('; ')}`, problems.map((p) => `environment: ${p}`));
  }
  return {
    kafka: { client: kafkaClient!, brokers: brokers!, clientId, compression: compression!, ...(kafkaSasl && { sasl: kafkaSasl }), ...(kafkaTls && { tls: kafkaTls }) },
    redis: { url: redisUrl!, ...(redisPassword && { password: redisPassword }), ...(redisTls && { tls: redisTls }) },
    ...(schemaRegistryUrl && { schemaRegistryUrl }),
    httpPort: httpPort!,
    logLevel: logLevel!,
    shutdownTimeoutMs: shutdownTimeoutMs!,
    startTimeoutMs: startTimeoutMs!,
  };
}

/** Small typed accessors; each records a problem instead of throwing so all are reported at once. */
class EnvReader {
  constructor(
    private readonly vars: Vars,
    private readonly problems: string[],
  ) {}

  private raw(name: string): string | undefined {
    const value = this.vars[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  private bad(name: string, value: string, expected: string): undefined {
    this.problems.push(`${name}=${JSON.stringify(value)}: expected ${expected}`);
    return undefined;
  }

  brokers(name: string, fallback: string): string[] | undefined {
    const value = this.raw(name) ?? fallback;
    const brokers = value.split(',').map((b) => b.trim());
    const invalid = brokers.filter((b) => !HOST_PORT.test(b) || Number(b.slice(b.lastIndexOf(':') + 1)) > 65535);
    if (invalid.length > 0) return this.bad(name, value, 'a comma-separated list of host:port, e.g. 127.0.0.1:9092');
    return brokers;
  }

  url(name: string, fallback: string | undefined, protocols: readonly string[]): string | undefined {
    const value = this.raw(name) ?? fallback;
    if (value === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      return this.bad(name, value, `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
    }
    if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
      return this.bad(name, value, `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
    }
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      return this.bad(name, value, `an integer from ${min} to ${max}`);
    }
    return Number(value);
  }

  oneOf<T extends string>(name: string, fallback: T | undefined, allowed: readonly T[]): T | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase() as T;
    if (!allowed.includes(lower)) return this.bad(name, value, `one of ${allowed.join(', ')}`);
    return lower;
  }

  boolean(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    return this.bad(name, value, 'true or false');
  }

  /** A secret from NAME or from the file named by NAME_FILE (Kubernetes Secret mounts). */
  secret(name: string): string | undefined {
    const direct = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      this.problems.push(`${name} and ${name}_FILE are both set: set only one`);
      return undefined;
    }
    if (file === undefined) return direct;
    const content = this.readFile(`${name}_FILE`, file)?.trimEnd();
    if (content === '') {
      this.problems.push(`${name}_FILE=${JSON.stringify(file)}: the file is empty`);
      return undefined;
    }
    return content;
  }

  private readFile(name: string, path: string): string | undefined {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      this.problems.push(`${name}=${JSON.stringify(path)}: cannot read the file (${reason})`);
      return undefined;
    }
  }

  sasl(): KafkaSasl | undefined {
    const mechanism = this.oneOf<KafkaSasl['mechanism']>('KAFKA_SASL_MECHANISM', undefined, SASL_MECHANISMS);
    const username = this.raw('KAFKA_SASL_USERNAME');
    const password = this.secret('KAFKA_SASL_PASSWORD');
    // Set but unusable (unknown mechanism, unreadable or doubly set password) is already reported.
    const mechanismSet = this.raw('KAFKA_SASL_MECHANISM') !== undefined;
    const passwordSet = this.raw('KAFKA_SASL_PASSWORD') !== undefined || this.raw('KAFKA_SASL_PASSWORD_FILE') !== undefined;
    if (mechanism === undefined) {
      if (!mechanismSet && (username !== undefined || passwordSet)) {
        this.problems.push(`KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SASL_MECHANISM is not: set it to one of ${SASL_MECHANISMS.join(', ')}`);
      }
      return undefined;
    }
    if (username === undefined) this.problems.push(`KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM=${mechanism}`);
    if (!passwordSet) this.problems.push(`KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required when KAFKA_SASL_MECHANISM=${mechanism}`);
    if (username === undefined || password === undefined) return undefined;
    return { mechanism, username, password };
  }

  /** TLS for PREFIX (KAFKA or REDIS): PREFIX_TLS=true plus optional CA / client cert files. */
  tls(prefix: string, impliedOn = false): TlsFiles | undefined {
    const explicit = this.boolean(`${prefix}_TLS`);
    if (explicit === false && impliedOn) {
      this.problems.push(`${prefix}_TLS=false contradicts the rediss:// scheme of ${prefix}_URL: use redis:// for a plain connection or remove ${prefix}_TLS`);
    }
    const enabled = explicit ?? impliedOn;
    const files: Record<string, string | undefined> = {};
    for (const [field, suffix] of [['ca', 'CA_FILE'], ['cert', 'CERT_FILE'], ['key', 'KEY_FILE']] as const) {
      const name = `${prefix}_TLS_${suffix}`;
      const path = this.raw(name);
      if (path === undefined) continue;
      if (!enabled) {
        this.problems.push(`${name} is set but ${prefix}_TLS is not true: set ${prefix}_TLS=true or remove it`);
        continue;
      }
      const content = this.readFile(name, path);
      // A readable file that is not PEM would fail only at the first TLS handshake, far from its cause.
      if (content !== undefined && !PEM[field].test(content)) {
        this.problems.push(`${name}=${JSON.stringify(path)}: not a PEM ${field === 'key' ? 'private key' : 'certificate'} (expected a -----BEGIN ${field === 'key' ? '... PRIVATE KEY' : 'CERTIFICATE'}----- block)`);
        continue;
      }
      files[field] = content;
    }
    if (enabled && (files.cert === undefined) !== (files.key === undefined)) {
      this.problems.push(`${prefix}_TLS_CERT_FILE and ${prefix}_TLS_KEY_FILE: a client certificate needs both`);
    }
    if (!enabled) return undefined;
    return Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined)) as TlsFiles;
  }
}
