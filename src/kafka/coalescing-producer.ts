import type { KafkaPort, KafkaProducer } from './port.js';
import type { OutgoingRecord } from './records.js';

interface Pending {
  readonly byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces many small sends into one request. An idempotent kafkajs producer allows one request in
 * flight, so concurrent writers each sending one record would queue behind each
 * other's round trips; here, whatever arrives while a request is out goes in the next one.
 * No linger timer: a lone send leaves at once, a busy worker's sends batch themselves.
 * Each caller's promise settles with the request that carried its records (acks=all).
 *
 * It owns its idempotent producer (`kafka.producer()` makes one), because a refusal as too large
 * (MESSAGE_TOO_LARGE) leaves a kafkajs producer unusable: kafkajs rolls back the sequence
 * numbers of every partition of the refused request, though the broker appended the records of
 * the other partitions, so the next batch to one of those is refused as out of order forever
 * (or, with the same count of records, taken for a duplicate and dropped). A new producer id
 * starts every sequence over.
 */
export class CoalescingProducer {
  private pending: Pending[] = [];
  private inFlight = false;

  private constructor(
    private readonly kafka: KafkaPort,
    private producer: Promise<KafkaProducer>,
    /** Records per request at most; the rest waits for the next one. */
    private readonly maxRecords: number,
  ) {}

  /** Opens the first producer (its connection errors surface here, at start). */
  static async create(kafka: KafkaPort, maxRecords = 1_000): Promise<CoalescingProducer> {
    const producer = await kafka.producer();
    return new CoalescingProducer(kafka, Promise.resolve(producer), maxRecords);
  }

  private tooLarge(error: unknown): boolean {
    return this.kafka.classify(error) === 'too-large';
  }

  send(byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ byTopic, resolve, reject });
      if (!this.inFlight) queueMicrotask(() => void this.flush());
    });
  }

  /** Disconnects the producer; sends still pending fail. */
  async close(): Promise<void> {
    const producer = await this.producer.catch(() => undefined);
    await producer?.disconnect();
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
      await this.sendAll(topics);
      for (const p of batch) p.resolve();
    } catch (error) {
      if (batch.length > 1 && this.tooLarge(error)) await this.sendEachAlone(batch);
      else for (const p of batch) p.reject(error);
    } finally {
      this.inFlight = false;
      if (this.pending.length > 0) void this.flush();
    }
  }

  private async sendAll(byTopic: ReadonlyMap<string, readonly OutgoingRecord[]>): Promise<void> {
    const producer = await this.current();
    try {
      await producer.send([...byTopic].map(([topic, records]) => ({ topic, records })));
    } catch (error) {
      if (this.tooLarge(error)) this.renew(producer);
      throw error;
    }
  }

  /** The producer, or a fresh try at opening one when the last try failed (the caller retries its send). */
  private async current(): Promise<KafkaProducer> {
    try {
      return await this.producer;
    } catch (error) {
      this.renew(undefined);
      throw error;
    }
  }

  private renew(old: KafkaProducer | undefined): void {
    const next = this.kafka.producer();
    next.catch(() => undefined); // a failed open is reported to the next send, not as an unhandled rejection
    this.producer = next;
    // Nothing else is in flight on it: one request at a time.
    void old?.disconnect().catch(() => undefined);
  }

  /**
   * The broker refused a record batch as too large: one caller's record, or several callers'
   * records that share a partition and together pass a small max.message.bytes. Sent one
   * caller at a time, only the caller whose own records do not fit gets the refusal (and makes
   * them fit); the others go through. Records of the combined request that the broker had
   * appended to other partitions are written again: their readers dedup by event id.
   */
  private async sendEachAlone(batch: readonly Pending[]): Promise<void> {
    for (const p of batch) {
      try {
        await this.sendAll(p.byTopic);
        p.resolve();
      } catch (error) {
        p.reject(error);
      }
    }
  }
}
