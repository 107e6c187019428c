/**
 * What `flowyard demo` does around each destination's real sink: before the run, what the
 * sink needs and a fresh machine lacks (a PostgreSQL table, a local webhook receiver, a tail
 * on a Kafka sink topic); after it, reading back from the real place what this run's events
 * left there (rows, Redis entries, requests, records), so the printout shows the effect and
 * not only flowyard's own bookkeeping.
 */
import pg from 'pg';
import type { Env } from '../config/env.js';
import type { KafkaPort, Tail } from '../kafka/port.js';
import type { Logger } from '../observability/logger.js';
import { createRedis, type Redis } from '../redis/connection.js';
import { HEADER } from '../runtime/headers.js';
import type { HttpSinkConfig } from '../sinks/http/config.js';
import type { KafkaSinkConfig } from '../sinks/kafka/config.js';
import type { PostgresSinkConfig } from '../sinks/postgres/config.js';
import { parseTableName, quoteIdent, quoteTable } from '../sinks/postgres/sql.js';
import { DEFAULT_KEY_TEMPLATE, type RedisSinkConfig } from '../sinks/redis/config.js';
import { compileKeyTemplate, guardKey } from '../sinks/redis/fields.js';
import { redactUrl } from '../sinks/shared.js';
import type { PlanDestination } from '../topology/plan.js';
import { WebhookReceiver, type ReceivedRequest } from './demo-receiver.js';

/** One sample event of the run, as the sinks see it. */
export interface DemoEvent {
  readonly eventId: string;
  readonly key: string;
  readonly payload: Record<string, unknown>;
}

export interface ReadBack {
  /** Where it was read: `postgres table x`, `redis hash prefix:*`, ... */
  readonly where: string;
  /** Distinct events of this run found there; undefined when the sink cannot be read back. */
  readonly received: number | undefined;
  /** Entries beyond one per event (a side effect twice); 0 where the place cannot tell. */
  readonly duplicates: number;
  /** A few of the entries, one line each. */
  readonly samples: readonly string[];
}

export interface DemoDestination {
  readonly name: string;
  readonly sinkType: string;
  /** Before the roles start. Lines say what was set up. */
  prepare(): Promise<string[]>;
  readBack(events: readonly DemoEvent[]): Promise<ReadBack>;
  close(): Promise<void>;
}

export interface DemoResources {
  readonly env: Env;
  readonly kafka: KafkaPort;
  /** The process Redis (REDIS_URL): a redis sink without `url` writes there. */
  readonly redis: Redis;
  readonly logger: Logger;
}

const SAMPLES = 2;

/** One per destination of the plan, in plan order; local webhook receivers are shared per port. */
export function demoDestinations(destinations: readonly PlanDestination[], resources: DemoResources, sample: DemoEvent): DemoDestination[] {
  const receivers = new Map<number, SharedReceiver>();
  return destinations.map((destination) => {
    const { sink } = destination;
    switch (sink.type) {
      case 'postgres':
        return postgresDestination(destination.name, sink as PostgresSinkConfig, sample);
      case 'redis':
        return redisDestination(destination.name, sink as RedisSinkConfig, resources);
      case 'http':
        return httpDestination(destination.name, sink as HttpSinkConfig, receivers);
      case 'kafka':
        return kafkaDestination(destination.name, sink as KafkaSinkConfig, resources.kafka);
      default:
        return {
          name: destination.name,
          sinkType: sink.type,
          prepare: async () => [],
          readBack: async () => ({ where: `${sink.type} sink`, received: undefined, duplicates: 0, samples: [] }),
          close: async () => undefined,
        };
    }
  });
}

/** A column type that fits what the sample event has at that source. */
export function columnType(source: string, sample: DemoEvent): string {
  if (source === '$ingestedAt') return 'timestamptz';
  if (source.startsWith('$')) return 'text';
  let value: unknown = sample.payload;
  for (const segment of source.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[segment] : undefined;
  if (typeof value === 'number') return 'numeric';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'object' && value !== null) return 'jsonb';
  return 'text';
}

/** `CREATE TABLE IF NOT EXISTS` with the mapped columns; the conflict key is the primary key, as the sink requires a unique index on it. */
export function createTableSql(config: Pick<PostgresSinkConfig, 'table' | 'conflictKey' | 'columns'>, sample: DemoEvent): string {
  const columns = Object.entries(config.columns).map(([column, source]) => `${quoteIdent(column)} ${columnType(source, sample)}${column === config.conflictKey ? ' PRIMARY KEY' : ''}`);
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(parseTableName(config.table))} (${columns.join(', ')})`;
}

function postgresDestination(name: string, config: PostgresSinkConfig, sample: DemoEvent): DemoDestination {
  // Like the sink: no url means libpq's PGHOST/PGDATABASE variables.
  const pool = new pg.Pool({ ...(config.url !== undefined && { connectionString: config.url }), max: 2 });
  const where = `postgres table ${config.table} on ${config.url === undefined ? 'PGHOST' : redactUrl(config.url)}`;
  const idColumn = Object.entries(config.columns).find(([, source]) => source === '$eventId')?.[0];
  return {
    name,
    sinkType: 'postgres',
    async prepare() {
      const table = quoteTable(parseTableName(config.table));
      const existed = (await pool.query<{ found: string | null }>('SELECT to_regclass($1) AS found', [table])).rows[0]?.found !== null;
      if (existed) return [`${name}: ${where} exists`];
      await pool.query(createTableSql(config, sample));
      return [`${name}: created ${where} (${Object.keys(config.columns).join(', ')})`];
    },
    async readBack(events) {
      if (idColumn === undefined) return { where: `${where} (no column maps $eventId: not read back)`, received: undefined, duplicates: 0, samples: [] };
      const ids = events.map((e) => e.eventId);
      const result = await pool.query<Record<string, unknown>>(
        `SELECT * FROM ${quoteTable(parseTableName(config.table))} WHERE ${quoteIdent(idColumn)} = ANY($1::text[]) ORDER BY ${quoteIdent(idColumn)}`,
        [ids],
      );
      const distinct = new Set(result.rows.map((row) => String(row[idColumn])));
      return { where, received: distinct.size, duplicates: result.rows.length - distinct.size, samples: result.rows.slice(0, SAMPLES).map((row) => `row ${JSON.stringify(row)}`) };
    },
    close: () => pool.end(),
  };
}

function redisDestination(name: string, config: RedisSinkConfig, resources: DemoResources): DemoDestination {
  let own: Redis | undefined;
  const client = (): Redis => {
    if (config.url === undefined) return resources.redis;
    own ??= createRedis({ url: config.url }, resources.logger, `flowyard-demo-${name}`);
    return own;
  };
  const renderKey = config.mode === 'hash' ? compileKeyTemplate(config.keyTemplate ?? DEFAULT_KEY_TEMPLATE) : undefined;
  const dataKey = (event: DemoEvent): string =>
    renderKey ? `${config.keyPrefix ?? ''}${renderKey({ eventId: event.eventId, key: event.key, payload: event.payload, value: Buffer.alloc(0), headers: {} })}` : config.stream!;
  const where =
    config.mode === 'hash'
      ? `redis hashes ${config.keyPrefix ?? ''}${config.keyTemplate ?? DEFAULT_KEY_TEMPLATE}${config.url ? ` on ${redactUrl(config.url)}` : ''}`
      : `redis stream ${config.stream}${config.url ? ` on ${redactUrl(config.url)}` : ''}`;
  return {
    name,
    sinkType: 'redis',
    async prepare() {
      if (config.url !== undefined) await client().connect();
      return [];
    },
    async readBack(events) {
      const redis = client();
      // The sink sets a guard per event id in the same script as the write: one per event written.
      const guards = await redis.mget(...events.map((event) => guardKey(dataKey(event), event.eventId)));
      const written = events.filter((_, i) => guards[i] !== null);
      const samples: string[] = [];
      for (const event of written.slice(0, SAMPLES)) {
        if (config.mode === 'hash') samples.push(`${dataKey(event)} ${JSON.stringify(await redis.hgetall(dataKey(event)))}`);
        else {
          const id = guards[events.indexOf(event)]!;
          const entries = await redis.xrange(config.stream!, id, id);
          const fields = entries[0]?.[1] ?? [];
          const shown: Record<string, string> = {};
          for (let i = 0; i + 1 < fields.length; i += 2) shown[fields[i]!] = fields[i + 1]!;
          samples.push(`${config.stream} ${id} ${JSON.stringify(shown)}`);
        }
      }
      return { where, received: written.length, duplicates: 0, samples };
    },
    async close() {
      if (own) await own.quit().catch(() => own?.disconnect());
    },
  };
}

/** The port of an http(s) URL on this machine, or undefined when it points elsewhere. */
export function localPort(url: string): number | undefined {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) return undefined;
  return parsed.port === '' ? 80 : Number(parsed.port);
}

interface SharedReceiver {
  readonly receiver: WebhookReceiver;
  started?: Promise<void>;
}

function httpDestination(name: string, config: HttpSinkConfig, receivers: Map<number, SharedReceiver>): DemoDestination {
  const port = localPort(config.url);
  const path = new URL(config.url).pathname + new URL(config.url).search;
  const where = `http ${config.method ?? 'POST'} ${redactUrl(config.url)}`;
  let shared: SharedReceiver | undefined;
  if (port !== undefined) {
    shared = receivers.get(port) ?? { receiver: new WebhookReceiver(port) };
    receivers.set(port, shared);
  }
  return {
    name,
    sinkType: 'http',
    async prepare() {
      if (shared === undefined) return [`${name}: ${where} is not on this machine; the demo cannot show what it received`];
      // Destinations on one port share one receiver, started once.
      shared.started ??= shared.receiver.start();
      await shared.started;
      return [`${name}: webhook receiver listening on 127.0.0.1:${port}`];
    },
    async readBack(events) {
      if (shared === undefined) return { where, received: undefined, duplicates: 0, samples: [] };
      const ours = new Set(events.map((e) => e.eventId));
      const requests = shared.receiver.requests.filter((r) => r.path === path && r.idempotencyKey !== undefined && ours.has(r.idempotencyKey));
      const distinct = new Set(requests.map((r) => r.idempotencyKey));
      return { where, received: distinct.size, duplicates: requests.length - distinct.size, samples: requests.slice(0, SAMPLES).map(describeRequest) };
    },
    async close() {
      await shared?.receiver.stop();
    },
  };
}

function describeRequest(request: ReceivedRequest): string {
  return `${request.method} ${request.path} Idempotency-Key: ${request.idempotencyKey} traceparent: ${request.traceparent ?? '-'} ${request.body}`;
}

function kafkaDestination(name: string, config: KafkaSinkConfig, kafka: KafkaPort): DemoDestination {
  const seen: { eventId: string; key: string; value: string }[] = [];
  let tail: Tail | undefined;
  return {
    name,
    sinkType: 'kafka',
    async prepare() {
      // From the topic's end now: what earlier runs wrote there is not this run's.
      tail = await kafka.tail([config.topic], (record) =>
        seen.push({ eventId: record.headers[HEADER.eventId] ?? '', key: record.key?.toString('utf8') ?? '', value: record.value?.toString('utf8') ?? '' }),
      );
      return [];
    },
    async readBack(events) {
      const ours = new Set(events.map((e) => e.eventId));
      const records = seen.filter((r) => ours.has(r.eventId));
      const distinct = new Set(records.map((r) => r.eventId));
      return {
        where: `kafka topic ${config.topic}`,
        received: distinct.size,
        duplicates: records.length - distinct.size,
        samples: records.slice(0, SAMPLES).map((r) => `key ${r.key} fy-event-id ${r.eventId} ${r.value}`),
      };
    },
    async close() {
      await tail?.stop();
    },
  };
}
