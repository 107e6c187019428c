/**
 * Turns a source record's value into a payload the router can read the key and event id
 * from. Format-specific decoders live next to this file; the router only sees this.
 */
import type { PlanSource } from '../topology/plan.js';
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
  /** SCHEMA_REGISTRY_URL, when configured. */
  readonly schemaRegistryUrl?: string;
  /** Folder of `<schema>.avsc` files; default: the repository's `schemas/`. */
  readonly schemasDir?: string;
}

export async function createDecoder(source: PlanSource, _options: DecoderOptions = {}): Promise<EventDecoder> {
  switch (source.format) {
    case 'json':
      return createJsonDecoder();
    case 'avro':
      throw new Error('avro sources are not supported yet');
  }
}
