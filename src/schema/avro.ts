/**
 * Avro events (issue 7).
 *
 * With a schema registry, values are in the Confluent wire format: magic byte 0, the
 * writer schema's id as a 4-byte big-endian integer, then the Avro body. The writer schema
 * is fetched by id once and cached (ids are immutable), and every body is resolved into the
 * topology's reader schema as Avro schema resolution defines (fields added with defaults,
 * removed fields, promotions such as int -> long). Without a registry, values are plain
 * Avro bodies written with the reader schema itself.
 *
 * What is the event's fault resolves `{ ok: false, reason }` (the router dead-letters it with
 * class `invalid`); what is the registry's fault rejects with DecoderUnavailableError (the
 * router waits and retries; ids already cached keep decoding meanwhile).
 */
import type { Type } from 'avsc';
import { DecoderUnavailableError, type DecodeResult, type EventDecoder } from './decoder.js';
import { narrowToValue } from './narrow.js';
import { parseSchemaText, avroType } from './avro-types.js';
import { RegistryClient, RegistryRequestError, RegistryUnavailableError } from './registry.js';

/** First byte of a Confluent wire-format value. */
export const MAGIC_BYTE = 0;
/** Magic byte plus the 4-byte schema id. */
export const WIRE_HEADER_BYTES = 5;
/** Confluent `error_code` of GET /schemas/ids/{id} for an id no schema has. */
const SCHEMA_NOT_FOUND = 40403;

type Resolver = ReturnType<Type['createResolver']>;

/** The topology's reader schema, parsed. */
export interface ReaderSchema {
  /** As the topology names it, e.g. `order-event`. */
  readonly name: string;
  /** Where it came from: a file path or `registry subject <s> version <n>`; for messages. */
  readonly origin: string;
  readonly type: Type;
}

/** One writer schema id, as the cache keeps it. */
type WriterEntry =
  | {
      readonly usable: true;
      /** Wrapped unions: decodes bodies for per-event union narrowing. */
      readonly wrapped: Type;
      /** Unwrapped, like the reader: names types and indices best in avsc's errors. */
      readonly plain: Type;
      /** The strict resolver, or why avsc refused it (see narrow.ts). */
      readonly resolver: Resolver | undefined;
      readonly refusal: string | undefined;
      readonly hasUnions: boolean;
    }
  /** The registry answered, but with nothing this decoder can read (another schema type, an invalid schema). */
  | { readonly usable: false; readonly reason: string };

/** How createAvroDecoder reads values: with a registry, the Confluent wire format; without, plain bodies. */
export interface AvroDecoderOptions {
  /** Absent: plain Avro bodies in the reader schema. */
  readonly registry?: RegistryClient;
  /** Bound of the per-event resolver cache (narrowed writer schemas); 256 shapes is plenty for real unions. */
  readonly maxNarrowedResolvers?: number;
}

/** Builds the Avro decoder for a reader schema. */
export function createAvroDecoder(reader: ReaderSchema, options: AvroDecoderOptions = {}): EventDecoder {
  return options.registry === undefined ? new PlainAvroDecoder(reader) : new ConfluentAvroDecoder(reader, options.registry, options.maxNarrowedResolvers ?? 256);
}

/**
 * A Confluent wire-format value: `[0][id: int32 BE][body]`. For producers and tests; the
 * decoder reads the same layout.
 */
export function encodeConfluent(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(WIRE_HEADER_BYTES);
  header.writeUInt8(MAGIC_BYTE, 0);
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

class PlainAvroDecoder implements EventDecoder {
  constructor(private readonly reader: ReaderSchema) {}

  async decode(value: Buffer | null): Promise<DecodeResult> {
    if (value === null || value.length === 0) return { ok: false, reason: 'empty value (tombstone or null): expected an Avro record' };
    const result = decodeBody(this.reader.type, value, undefined, `reader schema ${this.reader.name}`);
    // A wire-format value read as a plain body fails in some way; say what it most likely is.
    if (!result.ok && value[0] === MAGIC_BYTE && value.length > WIRE_HEADER_BYTES) {
      return { ok: false, reason: `${result.reason} (the value starts with byte 0x00 like the Confluent wire format; is SCHEMA_REGISTRY_URL missing?)` };
    }
    return result;
  }

  async close(): Promise<void> {}
}

class ConfluentAvroDecoder implements EventDecoder {
  /**
   * Settled entries stay for the decoder's life (an id names one schema forever, and a topic
   * sees a handful); a pending fetch is shared by every event waiting for the same id.
   */
  private readonly writers = new Map<number, Promise<WriterEntry>>();
  private readonly narrowed = new Map<string, { type: Type; resolver?: Resolver; refusal?: string }>();

  constructor(
    private readonly reader: ReaderSchema,
    private readonly registry: RegistryClient,
    private readonly maxNarrowed: number,
  ) {}

  async decode(value: Buffer | null): Promise<DecodeResult> {
    if (value === null || value.length === 0) return { ok: false, reason: 'empty value (tombstone or null): expected a Confluent wire-format Avro record' };
    if (value[0] !== MAGIC_BYTE) {
      return { ok: false, reason: `wrong magic byte 0x${value[0]!.toString(16).padStart(2, '0')}: the Confluent wire format starts with 0x00, then a 4-byte schema id` };
    }
    if (value.length < WIRE_HEADER_BYTES) {
      return { ok: false, reason: `truncated header: ${value.length} byte(s), the Confluent wire format needs 5 (magic byte and 4-byte schema id) before the body` };
    }
    const id = value.readUInt32BE(1);
    const body = value.subarray(WIRE_HEADER_BYTES);
    const lookup = await this.writer(id);
    if ('reason' in lookup) return { ok: false, reason: lookup.reason };
    const writer = lookup.entry;
    if (!writer.usable) return { ok: false, reason: writer.reason };
    const where = `writer schema id ${id}`;
    if (writer.resolver !== undefined) return decodeBody(this.reader.type, body, writer.resolver, where, writer.plain);
    return this.decodeNarrowed(id, writer, body);
  }

  async close(): Promise<void> {
    this.writers.clear();
    this.narrowed.clear();
  }

  /**
   * The cached entry for `id`, fetching it once. A 404 is the event's fault (an id no
   * schema has) and is not cached, so an id registered later is found then.
   */
  private async writer(id: number): Promise<{ entry: WriterEntry } | { reason: string }> {
    let pending = this.writers.get(id);
    if (pending === undefined) {
      pending = this.fetchWriter(id);
      this.writers.set(id, pending);
    }
    try {
      return { entry: await pending };
    } catch (error) {
      if (this.writers.get(id) === pending) this.writers.delete(id);
      // Only the registry's own "schema not found" (40403) convicts the event: a bare 404 more
      // likely means SCHEMA_REGISTRY_URL points at the wrong path, which must not dead-letter everything.
      if (error instanceof RegistryRequestError && error.status === 404 && error.errorCode === SCHEMA_NOT_FOUND) {
        return { reason: `unknown schema id ${id}: the schema registry has no schema with this id (404: ${error.registryMessage})` };
      }
      if (error instanceof RegistryUnavailableError || error instanceof RegistryRequestError) {
        // Not the event's fault (registry down, failing, misaddressed or refusing us, e.g. 401): retry later, never dead-letter.
        const hint = error instanceof RegistryRequestError && error.status === 404 ? ' (a 404 without error_code 40403: is SCHEMA_REGISTRY_URL the registry base URL?)' : '';
        throw new DecoderUnavailableError(`cannot fetch writer schema id ${id}: ${error.message}${hint}`, { cause: error });
      }
      throw error;
    }
  }

  private async fetchWriter(id: number): Promise<WriterEntry> {
    const registered = await this.registry.schemaById(id);
    if (registered.schemaType.toUpperCase() !== 'AVRO') {
      return { usable: false, reason: `schema id ${id} is a ${registered.schemaType} schema, not Avro` };
    }
    let wrapped: Type;
    let plain: Type;
    try {
      wrapped = parseSchemaText(registered.schema, 'wrapped');
      plain = parseSchemaText(registered.schema);
    } catch (error) {
      return { usable: false, reason: `schema id ${id} is not a valid Avro schema: ${(error as Error).message}` };
    }
    const hasUnions = containsUnion(plain);
    try {
      return { usable: true, wrapped, plain, resolver: this.reader.type.createResolver(plain), refusal: undefined, hasUnions };
    } catch (error) {
      return { usable: true, wrapped, plain, resolver: undefined, refusal: (error as Error).message, hasUnions };
    }
  }

  /** The strict resolver was refused: resolve this event's union choices only (see narrow.ts). */
  private decodeNarrowed(id: number, writer: Extract<WriterEntry, { usable: true }>, body: Buffer): DecodeResult {
    const where = `writer schema id ${id}`;
    if (!writer.hasUnions) {
      // Without unions every event fails the same way: the schemas do not resolve at all.
      return { ok: false, reason: `${where} cannot be resolved into reader schema ${this.reader.name} (${this.reader.origin}): ${writer.refusal}` };
    }
    const decoded = decodeBody(writer.wrapped, body, undefined, where, writer.plain);
    if (!decoded.ok) return decoded;
    const schema = narrowToValue(writer.wrapped, decoded.payload);
    const key = `${id}:${JSON.stringify(schema)}`;
    let cached = this.narrowed.get(key);
    if (cached === undefined) {
      const type = avroType(schema, 'wrapped');
      try {
        cached = { type, resolver: this.reader.type.createResolver(type) };
      } catch (error) {
        cached = { type, refusal: (error as Error).message };
      }
      // Bounded: oldest shape out first. A shape is one combination of union branches.
      if (this.narrowed.size >= this.maxNarrowed) this.narrowed.delete(this.narrowed.keys().next().value!);
      this.narrowed.set(key, cached);
    }
    if (cached.resolver === undefined) {
      return { ok: false, reason: `${where}, with the union branches this event uses, cannot be resolved into reader schema ${this.reader.name}: ${cached.refusal}` };
    }
    // The value was just decoded with the full writer schema, so the narrowed one can encode it.
    return decodeBody(this.reader.type, cached.type.toBuffer(decoded.payload), cached.resolver, where);
  }
}

/** Decodes exactly one Avro datum filling `body`, with the exact reason when it does not. */
function decodeBody(reader: Type, body: Buffer, resolver: Resolver | undefined, where: string, writer?: Type): DecodeResult {
  let result: { value: unknown; offset: number };
  try {
    result = reader.decode(body, 0, resolver) as { value: unknown; offset: number };
  } catch (error) {
    // avsc throws on bytes no datum of the schema can have: a union or enum index out of range, ...
    return { ok: false, reason: `body does not match ${where}: ${writerMessage(writer, body) ?? (error as Error).message}` };
  }
  if (result.offset < 0) {
    return { ok: false, reason: `truncated body: its ${body.length} byte(s) end before a complete record of ${where}` };
  }
  if (result.offset < body.length) {
    return { ok: false, reason: `trailing bytes: a record of ${where} ends after ${result.offset} of the body's ${body.length} bytes` };
  }
  return { ok: true, payload: result.value };
}

/**
 * avsc's messages from a resolver can lack the type's name ("invalid undefined enum
 * index"); decoding with the writer alone names it. Undefined when that does not throw.
 */
function writerMessage(writer: Type | undefined, body: Buffer): string | undefined {
  if (writer === undefined) return undefined;
  try {
    writer.decode(body, 0);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function containsUnion(type: Type, seen = new Set<Type>()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  if (type.typeName.startsWith('union')) return true;
  const nested = type as Type & { fields?: { type: Type }[]; itemsType?: Type; valuesType?: Type };
  if (nested.fields) return nested.fields.some((field) => containsUnion(field.type, seen));
  if (nested.itemsType) return containsUnion(nested.itemsType, seen);
  if (nested.valuesType) return containsUnion(nested.valuesType, seen);
  return false;
}
