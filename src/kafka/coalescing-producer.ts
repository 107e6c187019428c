import type { Producer } from 'kafkajs';
import { chunkByBytes } from './producer.js';
import type { OutgoingRecord } from './records.js';

interface Pending {
  readonly byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces many small sends into one request. An idempotent producer allows one request in
 * flight (kafkajs), so concurrent writers each sending one record would queue behind each
 * other's round trips; here, whatever arrives while a request is out goes in the next one.
 * No linger timer: a lone send leaves at once, a busy worker's sends batch themselves.
 * Each caller's promise settles with the request that carried its records (acks=all).
 */
export class CoalescingProducer {
  private pending: Pending[] = [];
  private inFlight = false;

  constructor(
    private readonly producer: Producer,
    /** Records per request at most; the rest waits for the next one. */
    private readonly maxRecords = 1_000,
  ) {}

  send(byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ byTopic, resolve, reject });
      if (!this.inFlight) queueMicrotask(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return;
    this.inFlight = true;
    const batch: Pending[] = [];
    let records = 0;
    while (this.pending.length > 0 && (batch.length === 0 || records < this.maxRecords)) {
      const next = this.pending.shift()!;
      batch.push(next);
      for (const list of next.byTopic.values()) records += list.length;
    }
    const topics = new Map<string, OutgoingRecord[]>();
    for (const { byTopic } of batch) {
      for (const [topic, list] of byTopic) {
        const all = topics.get(topic);
        if (all === undefined) topics.set(topic, [...list]);
        else for (const record of list) all.push(record);
      }
    }
    try {
      for (const topicMessages of chunkByBytes(topics)) await this.producer.sendBatch({ acks: -1, topicMessages });
      for (const p of batch) p.resolve();
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.inFlight = false;
      if (this.pending.length > 0) void this.flush();
    }
  }
}
