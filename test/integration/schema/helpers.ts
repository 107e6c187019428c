/**
 * Shared by the schema integration tests: the real schema registry `make test` starts
 * (infra/registry.sh, Apicurio Registry, Confluent API), the example schemas, and a private
 * registry process for tests that stop and restart one.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Schema } from 'avsc';
import type { PlanSource } from '../../../src/topology/plan.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** SCHEMA_REGISTRY_URL, or the one infra/registry.sh serves. */
export function registryUrl(): string {
  return process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
}

export const SCHEMAS_DIR = `${root}schemas`;
export const FIXTURES_DIR = `${root}test/fixtures/schemas`;

export function schemaText(file: 'v1' | 'v2' | 'v3'): string {
  return readFileSync(file === 'v1' ? `${SCHEMAS_DIR}/order-event.avsc` : `${FIXTURES_DIR}/order-event-${file}.avsc`, 'utf8');
}

export function schemaJson(file: 'v1' | 'v2' | 'v3'): Schema {
  return JSON.parse(schemaText(file)) as Schema;
}

/** The source of the orders-avro example as the planner makes it, on a topic of the test's own. */
export function avroSource(topic: string, schema = 'order-event'): PlanSource {
  return { topics: [topic], format: 'avro', schema, keyPath: ['customer', 'id'], idPath: ['eventId'] };
}

/** An order event of schema v1 (v2 adds `channel`). */
export function orderEvent(n: number): Record<string, unknown> {
  return {
    eventId: `e-${n}`,
    customer: { id: `c-${n % 3}`, email: n % 2 === 0 ? null : `c${n}@example.test` },
    orderId: `o-${n}`,
    type: 'CREATED',
    amountCents: 1000 + n,
    currency: 'EUR',
    occurredAt: 1_700_000_000_000 + n,
  };
}

/** A registry process of the test's own (infra/registry.sh with its own port and data folder), so stopping it disturbs no other test. */
export class PrivateRegistry {
  constructor(
    readonly port: number,
    readonly stateDir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/apis/ccompat/v7`;
  }

  async up(): Promise<void> {
    await this.script('up');
  }

  async down(): Promise<void> {
    await this.script('down');
  }

  private async script(command: 'up' | 'down'): Promise<void> {
    await run('bash', [`${root}infra/registry.sh`, command], {
      env: { ...process.env, FLOWYARD_REGISTRY_PORT: String(this.port), FLOWYARD_REGISTRY_STATE: this.stateDir },
      timeout: 120_000,
    });
  }
}
