/**
 * Runs a topology's roles in this process against the real broker and Redis, with
 * destinations that record every side effect in Redis, so scenario tests can count writes
 * per event and check per-key order. Each pipeline gets unique topic and group names.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../src/observability/logger.js';
import { createPlanTopics } from '../../src/cli/commands/topics.js';
import { sampleEvents } from '../../src/cli/sample-events.js';
import { produce } from '../../src/kafka/producer.js';
import type { ConsumedRecord, OutgoingRecord } from '../../src/kafka/records.js';
import type { Tail } from '../../src/kafka/port.js';
import { parseCompletionsRecord, type Completion, type EventOutcome } from '../../src/runtime/completion.js';
import type { Role } from '../../src/runtime/role.js';
import { PlanHost, type PlanHostOptions } from '../../src/runtime/plan-host.js';
import { createRoles, type RoleOverrides } from '../../src/runtime/roles.js';
import { closeSharedClients, createSharedClients, type SharedClients } from '../../src/runtime/shared.js';
import type { SinkContext } from '../../src/sinks/define.js';
import type { Sink, SinkRecord } from '../../src/sinks/sink.js';
import { parseTopology } from '../../src/topology/load.js';
import type { Plan, RoleName } from '../../src/topology/plan.js';
import { planGroups, readToHighWatermark, untilDrained } from './read-topic.js';
import { closeAfterTest } from './leftovers.js';
import { eventually, testEnv, testLogger, uniqueName } from './servers.js';

/** Decides per write: resolve to write, throw to fail. `attempt` counts this event's calls to this destination. */
export type Behaviour = (record: SinkRecord, attempt: number) => void | Promise<void>;

/** A destination whose side effect is an RPUSH of `key|eventId|n` to a Redis list. */
export class RecordingSink implements Sink {
  private readonly attempts = new Map<string, number>();
  constructor(
    private readonly redis: Redis,
    readonly listKey: string,
    private readonly behaviour: () => Behaviour,
  ) {}
  async start(): Promise<void> {}
  async write(record: SinkRecord): Promise<void> {
    const attempt = (this.attempts.get(record.eventId) ?? 0) + 1;
    this.attempts.set(record.eventId, attempt);
    await this.behaviour()(record, attempt);
    const n = (record.payload as { n?: number } | undefined)?.n;
    await this.redis.rpush(this.listKey, `${record.key}|${record.eventId}|${n}`);
  }
  async close(): Promise<void> {}
}

export interface Written {
  readonly key: string;
  readonly eventId: string;
  readonly n: number;
}

export class TestPipeline {
  readonly behaviours = new Map<string, Behaviour>();
  /** Destinations' completions (kind `destination`). */
  readonly completions: Completion[] = [];
  /** Compensation workers' completions. */
  readonly compensations: Completion[] = [];
  /** The tracker's verdicts. */
  readonly outcomes: EventOutcome[] = [];
  readonly deadLetters: ConsumedRecord[] = [];
  private roles: Role[] = [];
  private tail: Tail | undefined;
  private closed: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly plan: Plan,
    readonly shared: SharedClients,
    readonly runId: string,
    /** The topology text, for tests that also run the CLI on it. */
    readonly yaml: string,
  ) {}

  /** `yaml` is a topology body without `name`; `{name}` in it is replaced by the unique name. */
  /** `logger` defaults to the quiet test logger; pass one to assert on what the roles log. */
  static async create(yaml: string, envOverrides: Record<string, string> = {}, logger: Logger = testLogger()): Promise<TestPipeline> {
    const name = uniqueName('it');
    const text = `name: ${name}\n${yaml.replaceAll('{name}', name)}`;
    const { plan } = parseTopology(text, `${name}.yaml`, {});
    const shared = await createSharedClients(testEnv(envOverrides), logger);
    await createPlanTopics(plan, shared.kafka);
    const pipeline = new TestPipeline(plan, shared, name, text);
    pipeline.closed = closeAfterTest(`pipeline ${name}`, () => pipeline.close());
    pipeline.tail = await shared.kafka.tail([plan.completionsTopic, plan.dlqTopic], (record) => {
      if (record.topic === plan.dlqTopic) pipeline.deadLetters.push(record);
      else {
        const parsed = parseCompletionsRecord(record);
        if (parsed?.kind === 'destination') pipeline.completions.push(parsed);
        else if (parsed?.kind === 'compensation') pipeline.compensations.push(parsed);
        else if (parsed?.kind === 'event') pipeline.outcomes.push(parsed);
      }
    });
    return pipeline;
  }

  listKey(destination: string): string {
    return `it:${this.runId}:${destination}`;
  }

  async start(roles: readonly RoleName[] = ['router', 'worker']): Promise<void> {
    this.roles = await createRoles(this.plan, this.shared, { roles: new Set(roles) }, this.recordingSinks());
    for (const role of this.roles) await role.start();
  }

  /**
   * Like `start`, but with the sinks the topology configures (the normal sink factory: real
   * http, postgres, ... destinations), or with `overrides`. close() stops these roles too.
   */
  async startWith(roles: readonly RoleName[], overrides: RoleOverrides = {}): Promise<void> {
    this.roles = await createRoles(this.plan, this.shared, { roles: new Set(roles) }, overrides);
    for (const role of this.roles) await role.start();
  }

  /** The running role named `name` (e.g. `worker:ledger`), started by start/startWith. */
  role(name: string): Role | undefined {
    return this.roles.find((r) => r.name === name);
  }

  /** A PlanHost (hot reload, rollout) on this pipeline's recording sinks; the caller starts and stops it. */
  host(roles: readonly RoleName[], options: Omit<PlanHostOptions, 'overrides'> = {}): PlanHost {
    const host = new PlanHost(this.plan, this.shared, { roles: new Set(roles) }, { ...options, overrides: this.recordingSinks() });
    // Registered after the pipeline, so closed before it: the host's roles use its clients.
    closeAfterTest(`plan host of ${this.runId}`, () => host.stop());
    return host;
  }

  /** The plan of this pipeline's topology text after `edit`, with the same unique name. */
  planOf(edit: (yaml: string) => string): Plan {
    return parseTopology(edit(this.yaml), `${this.runId}.yaml`, {}).plan;
  }

  private recordingSinks(): RoleOverrides {
    return {
        createSink: (_config, context: SinkContext) =>
          new RecordingSink(this.shared.redis, this.listKey(context.destination), () => this.behaviours.get(context.destination) ?? (() => undefined)),
        // Compensations record to `<destination>.compensate`, with behaviours under the same name.
        createCompensationSink: (_config, context: SinkContext) => {
          const name = `${context.destination}.compensate`;
          return new RecordingSink(this.shared.redis, this.listKey(name), () => this.behaviours.get(name) ?? (() => undefined));
        },
    };
  }

  /**
   * Resolves once the roles this pipeline runs have committed everything on their input topics
   * (see untilDrained): a duplicate write or emission would have happened by then. Replaces a
   * "quiet window" sleep before asserting that nothing arrived twice.
   */
  async drained(timeoutMs?: number): Promise<void> {
    // Role names are `router`, `worker:<d>`, `compensator:<d>`, `tracker`, `sequencer`.
    const running = new Set(this.roles.map((role): RoleName => {
      const kind = role.name.split(':')[0];
      return kind === 'compensator' ? 'worker' : (kind as RoleName);
    }));
    await untilDrained(this.shared.kafka, planGroups(this.plan, [...running]), timeoutMs);
    // The tail behind `completions`, `outcomes` and `deadLetters` has read both topics to their ends too.
    const [reports, letters] = await Promise.all([readToHighWatermark(this.shared.kafka, [this.plan.completionsTopic]), readToHighWatermark(this.shared.kafka, [this.plan.dlqTopic])]);
    const kinds = reports.map((record) => parseCompletionsRecord(record)?.kind).filter((kind) => kind !== undefined).length;
    const caughtUp = await eventually(() => this.completions.length + this.compensations.length + this.outcomes.length >= kinds && this.deadLetters.length >= letters.length, timeoutMs ?? 60_000);
    if (!caughtUp) throw new Error(`the pipeline's tail did not read ${kinds} completions records and ${letters.length} dead letters`);
  }

  async stopRoles(): Promise<void> {
    for (const role of this.roles) await role.stop();
    this.roles = [];
  }

  /** Idempotent: the test's own afterAll and test/setup/close-leftovers.ts may both call it. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed?.();
    await this.stopRoles();
    await this.tail?.stop();
    await closeSharedClients(this.shared);
  }

  samples(count: number, keys: number): { records: OutgoingRecord[]; eventIds: string[] } {
    return sampleEvents(this.plan.source, { count, keys, runId: this.runId });
  }

  async produce(records: readonly OutgoingRecord[]): Promise<void> {
    const producer = await this.shared.kafka.producer();
    try {
      for (let i = 0; i < records.length; i += 500) await produce(producer, this.plan.source.topics[0]!, records.slice(i, i + 500));
    } finally {
      await producer.disconnect();
    }
  }

  async written(destination: string): Promise<Written[]> {
    const entries = await this.shared.redis.lrange(this.listKey(destination), 0, -1);
    return entries.map((entry) => {
      const [key, eventId, n] = entry.split('|');
      return { key: key!, eventId: eventId!, n: Number(n) };
    });
  }

  /** Distinct events that completed (ok or failed) at `destination`. */
  finished(destination: string): number {
    return new Set(this.completions.filter((c) => c.destination === destination).map((c) => c.eventId)).size;
  }
}

/** Every event written exactly once, and per key in source order (`n` increases). */
export function checkExactlyOnceInOrder(written: readonly Written[], eventIds: readonly string[]): { missing: string[]; duplicated: string[]; outOfOrderKeys: string[] } {
  const counts = new Map<string, number>();
  for (const w of written) counts.set(w.eventId, (counts.get(w.eventId) ?? 0) + 1);
  const lastN = new Map<string, number>();
  const outOfOrder = new Set<string>();
  for (const w of written) {
    if ((lastN.get(w.key) ?? -1) > w.n) outOfOrder.add(w.key);
    lastN.set(w.key, w.n);
  }
  return {
    missing: eventIds.filter((id) => !counts.has(id)),
    duplicated: [...counts].filter(([, c]) => c > 1).map(([id]) => id),
    outOfOrderKeys: [...outOfOrder],
  };
}
