/**
 * Turns a source record's value into a payload the router can read the key and event id
 * from. Format-specific decoders live next to this file; the router only sees this.
 */
import type { PlanSource } from '../topology/plan.js';
import { InvalidInputError } from '../errors.js';
import { createJsonDecoder } from './json.js';

export type DecodeResult =
  | { readonly ok: true; readonly payload: unknown }
  /** The event itself is bad: it goes to the DLQ with class `invalid` and this reason. */
  | { readonly ok: false; readonly reason: string };

export interface EventDecoder {
  /**
   * Decodes one value. Resolves `{ ok: false }` for a bad event; rejects with
   * DecoderUnavailableError when something outside the event (a schema registry) is down,
   * so the caller waits and retries instead of dead-lettering a good event.
   */
  decode(value: Buffer | null): Promise<DecodeResult>;
  close(): Promise<void>;
}

/** Decoding cannot proceed for a reason outside the event; retry later, never dead-letter. */
export class DecoderUnavailableError extends Error {
  override readonly name = 'DecoderUnavailableError';
}

export interface DecoderOptions {
  /** SCHEMA_REGISTRY_URL, when configured: Avro values are then in the Confluent wire format. */
  readonly schemaRegistryUrl?: string;
  /** Folder of `<schema>.avsc` files; default: the repository's `schemas/`. */
  readonly schemasDir?: string;
  /** Per registry request; a registry slower than this counts as unavailable. Default 5 s. */
  readonly registryTimeoutMs?: number;
}

/**
 * The decoder of a plan's source.
 * - json: one UTF-8 JSON object per value.
 * - avro with `schemaRegistryUrl`: Confluent wire format, writer schema by id from the
 *   registry (cached), resolved into the reader schema `source.schema`.
 * - avro without: plain Avro bodies written with the reader schema.
 *
 * The reader schema is `<schemasDir>/<source.schema>.avsc`, or else the latest version of
 * the registry subject `source.schema`.
 * @throws InvalidInputError when the reader schema is missing or invalid, or has no field at the key or id path;
 *   DecoderUnavailableError when it must come from a registry that is down.
 */
export async function createDecoder(source: PlanSource, options: DecoderOptions = {}): Promise<EventDecoder> {
  switch (source.format) {
    case 'json':
      return createJsonDecoder();
    case 'avro': {
      if (source.schema === undefined) throw new InvalidInputError('source format avro needs a schema');
      // Loaded lazily: JSON-only deployments never load avsc.
      const [{ createAvroDecoder }, { fieldPathProblem, loadReaderSchema }, { RegistryClient }] = await Promise.all([
        import('./avro.js'),
        import('./reader-schema.js'),
        import('./registry.js'),
      ]);
      const registry =
        options.schemaRegistryUrl === undefined
          ? undefined
          : new RegistryClient(options.schemaRegistryUrl, options.registryTimeoutMs === undefined ? {} : { requestTimeoutMs: options.registryTimeoutMs });
      const reader = await loadReaderSchema(source.schema, options.schemasDir, registry);
      const problems: string[] = [];
      for (const [what, path] of [['key', source.keyPath], ['id', source.idPath]] as const) {
        const problem = fieldPathProblem(reader.type, path);
        if (problem !== undefined) problems.push(`source ${what} ${path.join('.')}: ${problem} of reader schema ${reader.name} (${reader.origin})`);
      }
      if (problems.length > 0) throw new InvalidInputError(problems.join('; '), problems);
      return createAvroDecoder(reader, registry === undefined ? {} : { registry });
    }
  }
}
