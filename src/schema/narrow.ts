/**
 * Per-event Avro union resolution.
 *
 * The Avro spec resolves a writer union branch by branch: an event whose chosen branch the
 * reader can read decodes, and only an event that chose a branch the reader cannot read is
 * an error. avsc's `createResolver` is stricter: it refuses the whole writer schema as
 * soon as one branch of one union cannot be read, which would dead-letter every event of
 * that writer schema, including the good ones.
 *
 * So when the strict resolver is refused, the decoder reads the event with the writer
 * schema alone (unions wrapped, so the chosen branch is visible), narrows every union of
 * the writer schema to the branches this event chose, and resolves that narrowed schema:
 * avsc then does the real work (defaults, promotions, aliases, enums) and fails only when a
 * branch the event really uses cannot be read, naming it.
 *
 * Limit: a union in a position the event has no value for (say, the items of an empty
 * array) keeps all its branches, so the strict rule still applies there.
 */
import type { Schema, Type } from 'avsc';

interface UnionLike extends Type {
  readonly types: readonly Type[];
}
interface RecordLike extends Type {
  readonly fields: readonly { readonly name: string; readonly aliases: readonly string[]; readonly type: Type }[];
}

/**
 * The writer schema reduced to the union branches `value` uses. `writer` must be a wrapped
 * type (see avroType) and `value` what it decoded.
 */
export function narrowToValue(writer: Type, value: unknown): Schema {
  const used = new Map<Type, Set<number>>();
  collect(writer, value, used);
  return emit(writer, used, new Set());
}

/** Records, for each union type object, the branch indices the value chose. */
function collect(type: Type, value: unknown, used: Map<Type, Set<number>>): void {
  switch (type.typeName) {
    case 'record':
    case 'error': {
      if (typeof value !== 'object' || value === null) return;
      for (const field of (type as RecordLike).fields) collect(field.type, (value as Record<string, unknown>)[field.name], used);
      return;
    }
    case 'array':
      if (Array.isArray(value)) for (const item of value) collect((type as Type & { itemsType: Type }).itemsType, item, used);
      return;
    case 'map':
      if (typeof value === 'object' && value !== null) {
        for (const item of Object.values(value)) collect((type as Type & { valuesType: Type }).valuesType, item, used);
      }
      return;
    case 'union:wrapped': {
      const branches = (type as UnionLike).types;
      // A wrapped union value is null (the null branch) or `{ <branch name>: value }`.
      const branchName = value === null ? 'null' : typeof value === 'object' ? Object.keys(value as object)[0] : undefined;
      const index = branches.findIndex((branch) => branch.branchName === branchName);
      if (index < 0) return;
      const indices = used.get(type) ?? new Set<number>();
      indices.add(index);
      used.set(type, indices);
      const branch = branches[index]!;
      if (value !== null && branchName !== undefined) collect(branch, (value as Record<string, unknown>)[branchName], used);
      return;
    }
    default:
      return;
  }
}

/** The schema JSON of `type` with each union cut down to its used branches. Named types are emitted once, then referenced. */
function emit(type: Type, used: Map<Type, Set<number>>, named: Set<string>): Schema {
  const name = type.name;
  if (name !== undefined && named.has(name)) return name;
  switch (type.typeName) {
    case 'record':
    case 'error': {
      named.add(name!);
      return {
        type: type.typeName,
        name: name!,
        ...(type.aliases?.length ? { aliases: type.aliases } : {}),
        fields: (type as RecordLike).fields.map((field) => ({
          name: field.name,
          ...(field.aliases.length > 0 ? { aliases: [...field.aliases] } : {}),
          type: emit(field.type, used, named),
        })),
      } as Schema;
    }
    case 'array':
      return { type: 'array', items: emit((type as Type & { itemsType: Type }).itemsType, used, named) } as Schema;
    case 'map':
      return { type: 'map', values: emit((type as Type & { valuesType: Type }).valuesType, used, named) } as Schema;
    case 'union:wrapped':
    case 'union:unwrapped': {
      const branches = (type as UnionLike).types;
      const chosen = used.get(type);
      const kept = chosen === undefined ? branches : branches.filter((_, index) => chosen.has(index));
      return kept.map((branch) => emit(branch, used, named)) as Schema;
    }
    default:
      // enum, fixed (named: emitted once) and primitives
      if (name !== undefined) named.add(name);
      return type.schema();
  }
}
