/** A consumed record, independent of the client library. Offsets are int64 strings. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Headers of other systems, byte-exact (see carriedHeaders); absent when there are none. */
  readonly carriedHeaders?: CarriedHeaders;
  /** Broker or producer timestamp, ms since epoch. */
  readonly timestamp: number;
}

/** A record to produce. */
export interface OutgoingRecord {
  readonly key: string | Buffer | null;
  readonly value: Buffer | string | null;
  /** flowyard's headers; Buffers when several records share them already encoded (the router's copies of one event). */
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  /** Headers of other systems passed on as they came; `headers` never names one of them. */
  readonly carriedHeaders?: CarriedHeaders;
  readonly partition?: number;
}

/** Header values as Kafka carries them: bytes, several for a name a producer repeated. */
export type CarriedHeaders = Readonly<Record<string, Buffer | readonly Buffer[]>>;

/**
 * The headers flowyard carries from a source record to its copies, its dead letters and its
 * `kafka` sink records (README "Producing to flowyard"): every header except flowyard's own
 * namespace `fy-*` (a producer cannot forge an event id or a plan; flowyard's own win) and
 * `traceparent` (flowyard continues the trace with a child span of its own). Values keep their
 * bytes, UTF-8 or not, and repeated names keep every value in order.
 */
export function carriedHeaders(headers: RawHeaders | undefined): CarriedHeaders | undefined {
  let carried: Record<string, Buffer | Buffer[]> | undefined;
  for (const [name, raw] of Object.entries(headers ?? {})) {
    if (raw === undefined || /^fy-/i.test(name) || name.toLowerCase() === 'traceparent') continue;
    const bytes = (v: Buffer | string) => (Buffer.isBuffer(v) ? v : Buffer.from(v));
    carried ??= {};
    carried[name] = isList(raw) ? raw.map(bytes) : bytes(raw);
  }
  return carried;
}

/** Headers as a client library hands them over: per name a value, or several for a repeated name. */
export type RawHeaders = Readonly<Record<string, Buffer | string | readonly (Buffer | string)[] | undefined>>;

export interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read (Kafka commit convention: last processed + 1). */
  readonly offset: string;
}

/** Header values arrive as Buffers (or arrays for repeated keys); flowyard headers are UTF-8 strings, last one wins. */
export function decodeHeaders(headers: RawHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  if (!headers) return decoded;
  for (const [name, raw] of Object.entries(headers)) {
    const value = isList(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined) continue;
    decoded[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return decoded;
}

/** Array.isArray does not narrow a readonly array out of a union. */
function isList<T>(value: T | readonly T[]): value is readonly T[] {
  return Array.isArray(value);
}

/** `{ carriedHeaders }` when there are any, else nothing: spread into a record. */
export function withCarried(carried: CarriedHeaders | undefined): { carriedHeaders?: CarriedHeaders } {
  return carried === undefined ? {} : { carriedHeaders: carried };
}

/** The offset to commit after processing `offset`. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}
