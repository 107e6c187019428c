/**
 * The pure parts of the `redis` sink: hash keys from a template, guard keys, the fields of a
 * stream entry or hash, and what a Redis error means for the event.
 */
import { readField } from '../../schema/fields.js';
import { fieldPath } from '../../topology/names.js';
import type { SinkErrorKind, SinkRecord } from '../sink.js';
import { payloadJson } from '../shared.js';

/** Renders a hash key for one record; throws UnwritablePayloadError when the payload lacks a field. */
export type KeyRenderer = (record: SinkRecord) => string;

/** The payload cannot be written in the configured shape: the event's fault, so the write fails permanently. */
export class UnwritablePayloadError extends Error {
  override readonly name = 'UnwritablePayloadError';
}

type Part = { readonly text: string } | { readonly special: '$eventId' | '$key' } | { readonly path: string[] };

/**
 * Compiles `order:{customer.id}` into a renderer. Placeholders: `{$eventId}`, `{$key}` (the
 * causal key) and `{<field path>}` of the payload, which must be a non-empty string or a
 * number there. Throws an Error naming the problem for a malformed template (a startup error).
 */
export function compileKeyTemplate(template: string): KeyRenderer {
  const parts: Part[] = [];
  const token = /\{([^{}]*)\}|([^{}]+)|([{}])/g;
  for (const match of template.matchAll(token)) {
    const [, placeholder, text, stray] = match;
    if (stray !== undefined) throw new Error(`key template ${JSON.stringify(template)} has an unmatched '${stray}'`);
    if (text !== undefined) parts.push({ text });
    else if (placeholder === '$eventId' || placeholder === '$key') parts.push({ special: placeholder });
    else if (placeholder === undefined || placeholder.trim() === '' || placeholder.startsWith('$') || /\s|^\.|\.\.|\.$/.test(placeholder)) {
      throw new Error(`key template ${JSON.stringify(template)}: {${placeholder ?? ''}} is not {$eventId}, {$key} or a field path such as {customer.id}`);
    } else parts.push({ path: fieldPath(placeholder) });
  }
  if (parts.length === 0) throw new Error('key template is empty');
  return (record) =>
    parts
      .map((part) => {
        if ('text' in part) return part.text;
        if ('special' in part) return part.special === '$eventId' ? record.eventId : record.key;
        const field = readField(record.payload, part.path);
        if (!field.ok) throw new UnwritablePayloadError(`cannot build the hash key: ${field.reason}`);
        return field.value;
      })
      .join('');
}

/**
 * The guard key of an event written to `dataKey`: `{dataKey}:done:<event id>`. The braces
 * are a Redis Cluster hash tag, so guard and data key live in one slot and one Lua script
 * may touch both; a data key with its own hash tag keeps it (`{orders}.x:done:<id>`).
 */
export function guardKey(dataKey: string, eventId: string): string {
  return hasHashTag(dataKey) ? `${dataKey}:done:${eventId}` : `{${dataKey}}:done:${eventId}`;
}

/** Whether Redis Cluster hashes only part of `key`: a `{` followed later by `}` with something between. */
function hasHashTag(key: string): boolean {
  const open = key.indexOf('{');
  if (open === -1) return false;
  const close = key.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * Field/value pairs of a stream entry: flowyard's headers (fy-plan, fy-seq, traceparent, ...)
 * for readers that want them, then eventId, key and value, the original bytes. Header names
 * that would shadow those three are left out.
 */
export function streamFields(record: SinkRecord): (string | Buffer)[] {
  const reserved = new Set(['eventId', 'key', 'value']);
  const headers = Object.entries(record.headers).filter(([name]) => !reserved.has(name));
  return [...headers.flat(), 'eventId', record.eventId, 'key', record.key, 'value', record.value];
}

/**
 * Field/value pairs of a hash: the top-level fields of a JSON object payload, strings as they
 * are, anything else (numbers, booleans, null, objects, arrays) as its JSON text, so a reader
 * can tell `"1"` from `1` only where it matters and nested data round-trips with JSON.parse.
 * Throws UnwritablePayloadError when the payload is not an object.
 */
export function hashFields(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new UnwritablePayloadError(`hash mode needs a JSON object payload, got ${payload === null ? 'null' : Array.isArray(payload) ? 'an array' : typeof payload}`);
  }
  return Object.entries(payload as Record<string, unknown>)
    .filter(([, value]) => value !== undefined)
    .flatMap(([name, value]) => [name, typeof value === 'string' ? value : typeof value === 'bigint' ? value.toString() : Buffer.isBuffer(value) ? value.toString('base64') : payloadJson(value)]);
}

/**
 * Redis refusals that pass: still loading its data, a script running too long, a cluster
 * resharding or failing over, a replica that cannot take writes yet, memory full.
 */
const TRANSIENT_REPLY_PREFIXES = ['LOADING', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'MASTERDOWN', 'READONLY', 'NOREPLICAS', 'OOM', 'MOVED', 'ASK'];

/**
 * Whether another attempt can help. A reply error is Redis answering "no" to this exact
 * command (WRONGTYPE: the key holds another type; ERR: the command is malformed): the same
 * command gets the same answer, so it is permanent, unless its code is a transient one.
 * Anything that is not a reply (connection refused or closed, a timeout) is the connection's
 * state, which changes: retriable.
 */
export function redisErrorKind(error: unknown): SinkErrorKind {
  // ioredis' ReplyError (from redis-errors) is exported untyped; its name is its kind tag.
  if (!(error instanceof Error) || error.name !== 'ReplyError') return 'retriable';
  const code = error.message.split(/\s/, 1)[0] ?? '';
  return TRANSIENT_REPLY_PREFIXES.includes(code) ? 'retriable' : 'permanent';
}
