/**
 * Sample `orders` events for `flowyard produce` and `flowyard demo`: JSON objects with the
 * topology's key and id fields filled in (nested paths too), spread over `keys` customers.
 */
import { randomUUID } from 'node:crypto';
import type { PlanSource } from '../topology/plan.js';
import type { OutgoingRecord } from '../kafka/records.js';

export interface SampleOptions {
  readonly count: number;
  /** Distinct causal keys. */
  readonly keys: number;
  /** Prefix of event ids, so one run's events can be told apart. */
  readonly runId?: string;
  /** Pad each value to about this many bytes (benchmarks use 1 KiB). */
  readonly valueBytes?: number;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: string): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    node[segment] ??= {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export function sampleEvents(source: PlanSource, options: SampleOptions): { records: OutgoingRecord[]; eventIds: string[] } {
  const runId = options.runId ?? randomUUID().slice(0, 8);
  const records: OutgoingRecord[] = [];
  const eventIds: string[] = [];
  for (let i = 0; i < options.count; i += 1) {
    const key = `customer-${i % options.keys}`;
    const eventId = `${runId}-${i}`;
    const event: Record<string, unknown> = { type: 'order-placed', amount: (i % 97) + 0.5, currency: 'EUR', sku: `sku-${i % 13}`, n: i };
    setPath(event, source.keyPath, key);
    setPath(event, source.idPath, eventId);
    let value = JSON.stringify(event);
    if (options.valueBytes !== undefined && value.length < options.valueBytes) {
      event.padding = 'x'.repeat(options.valueBytes - value.length - 14);
      value = JSON.stringify(event);
    }
    records.push({ key, value });
    eventIds.push(eventId);
  }
  return { records, eventIds };
}
