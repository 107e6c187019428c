/**
 * Where a topology's `source.schema` comes from: `schemas/<name>.avsc` when that file
 * exists, otherwise the latest version of the registry subject `<name>`.
 */
import type { Type } from 'avsc';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../errors.js';
import { DecoderUnavailableError } from './decoder.js';
import { parseSchemaText } from './avro-types.js';
import type { ReaderSchema } from './avro.js';
import { isSubjectNotFound, RegistryRequestError, RegistryUnavailableError, type RegistryClient } from './registry.js';

/** The repository's `schemas/` (this file is src/schema/ or dist/schema/, two levels below the root). */
export const DEFAULT_SCHEMAS_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** A schema name that can be a file name; anything else can only be a registry subject. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The local `.avsc` of a schema name, or undefined when there is none. @throws InvalidInputError when it exists but is not a valid Avro record schema. */
export async function readLocalSchema(name: string, schemasDir: string = DEFAULT_SCHEMAS_DIR): Promise<(ReaderSchema & { text: string }) | undefined> {
  if (!FILE_NAME.test(name)) return undefined;
  const path = join(schemasDir, `${name}.avsc`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidInputError(`${path}: cannot read the schema file: ${(error as Error).message}`);
  }
  return { name, origin: path, text, type: parseRecordSchema(text, path) };
}

/**
 * The reader schema of an Avro source.
 * @throws InvalidInputError when there is no such file and no registry to ask, or the schema is invalid;
 *   DecoderUnavailableError when it must come from the registry and the registry is down.
 */
export async function loadReaderSchema(name: string, schemasDir: string = DEFAULT_SCHEMAS_DIR, registry?: RegistryClient): Promise<ReaderSchema> {
  const local = await readLocalSchema(name, schemasDir);
  if (local !== undefined) return local;
  if (registry === undefined) {
    throw new InvalidInputError(`source schema ${name}: there is no ${join(schemasDir, `${name}.avsc`)} and no SCHEMA_REGISTRY_URL to look it up as a subject`);
  }
  try {
    const latest = await registry.latest(name);
    const origin = `registry subject ${name} version ${latest.version} (id ${latest.id})`;
    if (latest.schemaType.toUpperCase() !== 'AVRO') throw new InvalidInputError(`source schema ${name}: ${origin} is a ${latest.schemaType} schema, not Avro`);
    return { name, origin, type: parseRecordSchema(latest.schema, origin) };
  } catch (error) {
    if (isSubjectNotFound(error)) {
      throw new InvalidInputError(`source schema ${name}: there is no ${join(schemasDir, `${name}.avsc`)} and the registry has no subject ${name} (${error.registryMessage})`);
    }
    if (error instanceof RegistryUnavailableError || error instanceof RegistryRequestError) {
      throw new DecoderUnavailableError(`source schema ${name}: cannot fetch the subject from the registry: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function parseRecordSchema(text: string, origin: string): Type {
  let type: Type;
  try {
    type = parseSchemaText(text);
  } catch (error) {
    throw new InvalidInputError(`${origin}: not a valid Avro schema: ${(error as Error).message}`);
  }
  // The key and id are field paths, so the top level must be a record.
  if (type.typeName !== 'record') throw new InvalidInputError(`${origin}: the schema of an event must be an Avro record, not ${type.typeName}`);
  return type;
}

/**
 * Why a key or id field path cannot exist in records of the reader schema, or undefined
 * when it can. Checked when the decoder is created: a typo in `source.key` would otherwise
 * dead-letter every event, one "field missing" at a time. Unions are looked through (a
 * `["null", Customer]` field can hold the path; an event where it is null is a bad event).
 */
export function fieldPathProblem(type: Type, path: readonly string[]): string | undefined {
  let candidates: Type[] = [type];
  for (const [index, segment] of path.entries()) {
    const next: Type[] = [];
    for (const candidate of candidates.flatMap(branches)) {
      const field = candidate.typeName === 'record' ? (candidate as RecordType).fields.find((f) => f.name === segment) : undefined;
      if (field !== undefined) next.push(field.type);
    }
    if (next.length === 0) {
      const at = path.slice(0, index).join('.');
      return `field ${path.slice(0, index + 1).join('.')} does not exist in ${at === '' ? 'the record' : at}`;
    }
    candidates = next;
  }
  const leaves = candidates.flatMap(branches).filter((leaf) => KEY_TYPES.has(leaf.typeName));
  if (leaves.length === 0) {
    return `field ${path.join('.')} is ${candidates.flatMap(branches).map((leaf) => leaf.typeName).join(' | ')}; a key or id must be a string, number or enum`;
  }
  return undefined;
}

/** Types readField turns into a key: strings, enum symbols, numbers. */
// `abstract:long` is flowyard's long (avro-types.ts), built with avsc's LongType.__with.
const KEY_TYPES = new Set(['string', 'enum', 'int', 'long', 'abstract:long', 'float', 'double']);

interface RecordType extends Type {
  readonly fields: readonly { readonly name: string; readonly type: Type }[];
}

function branches(type: Type): Type[] {
  return type.typeName.startsWith('union') ? [...(type as Type & { types: readonly Type[] }).types] : [type];
}
