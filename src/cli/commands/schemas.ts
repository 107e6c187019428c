import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '../../errors.js';
import { loadEnv } from '../../config/env.js';
import { loadTopology } from '../../topology/load.js';
import { parseSchemaText } from '../../schema/avro-types.js';
import { DEFAULT_SCHEMAS_DIR, readLocalSchema } from '../../schema/reader-schema.js';
import { isSubjectNotFound, RegistryClient, RegistryRequestError, type SubjectVersion } from '../../schema/registry.js';
import { DEFAULT_SUBJECT_NAME_STRATEGY, valueSubjects, type SubjectNameStrategy } from '../../schema/subjects.js';

interface SchemasOptions {
  readonly schemasDir: string;
  readonly schemaFile?: string;
  readonly registryUrl?: string;
}

/** What a command works on: the local schema, where it came from, and the subjects it belongs under. */
interface Target {
  readonly registry: RegistryClient;
  readonly text: string;
  readonly origin: string;
  readonly subjects: readonly string[];
}

/**
 * `flowyard schemas push <topology>` registers the source's local Avro schema under the
 * subjects of `source.subjectNameStrategy` (topic-name by default);
 * `flowyard schemas check <topology>` asks the registry whether it is compatible with the
 * latest registered version of each subject, and exits 2 with the registry's reasons when not.
 * Registry unreachable: exit 1.
 */
export function register(program: Command): void {
  const schemas = program.command('schemas').description('Register and check the Avro schema of a topology source in the schema registry');

  withOptions(schemas.command('push'))
    .description('Register the local schema under the subjects of source.subjectNameStrategy (topic-name by default)')
    .action(async (file: string, options: SchemasOptions) => {
      const target = await resolveTarget(file, options);
      const problems: string[] = [];
      for (const subject of target.subjects) {
        try {
          const id = await target.registry.register(subject, target.text);
          process.stdout.write(`registered ${subject}: schema id ${id} (${target.origin})\n`);
        } catch (error) {
          // 409: incompatible with the registered versions; 422: a schema the registry rejects. Both are the input's fault.
          if (!(error instanceof RegistryRequestError) || error.status >= 500) throw error;
          problems.push(`${subject}: the registry refused ${target.origin} (${error.status}): ${error.registryMessage}`);
        }
      }
      if (problems.length > 0) throw new InvalidInputError(`${problems.length} subject(s) refused the schema`, problems);
    });

  withOptions(schemas.command('check'))
    .description('Ask the registry whether the local schema is compatible with the latest registered version of each subject')
    .action(async (file: string, options: SchemasOptions) => {
      const target = await resolveTarget(file, options);
      const problems: string[] = [];
      for (const subject of target.subjects) {
        // Asked first because registries differ on a check against a subject that does not exist (Confluent 404, Apicurio "compatible").
        const latest = await latestOrNone(target.registry, subject);
        const result = latest === undefined ? undefined : await target.registry.checkCompatibility(subject, target.text);
        if (latest === undefined || result === undefined || !result.subjectExists) {
          process.stdout.write(`compatible ${subject}: nothing registered yet (${target.origin})\n`);
        } else if (result.compatible) {
          process.stdout.write(`compatible ${subject}: ${target.origin} can follow version ${latest.version} (schema id ${latest.id})\n`);
        } else {
          const reasons = result.messages.length > 0 ? result.messages : await target.registry.apicurioReasons(subject, target.text);
          const head = `${subject}: ${target.origin} is not compatible with the latest registered version`;
          if (reasons.length === 0) problems.push(`${head} (the registry gave no reason)`);
          for (const reason of reasons) problems.push(`${head}: ${reason}`);
        }
      }
      if (problems.length > 0) throw new InvalidInputError(`incompatible schema`, problems);
    });
}

async function latestOrNone(registry: RegistryClient, subject: string): Promise<SubjectVersion | undefined> {
  try {
    return await registry.latest(subject);
  } catch (error) {
    if (isSubjectNotFound(error)) return undefined;
    throw error;
  }
}

function withOptions(command: Command): Command {
  return command
    .argument('<topology>', 'topology YAML file with an avro source')
    .option('--schemas-dir <dir>', 'folder of <schema>.avsc files', DEFAULT_SCHEMAS_DIR)
    .option('--schema-file <file>', 'use this .avsc instead of <schemas-dir>/<source.schema>.avsc (e.g. a proposed version)')
    .option('--registry-url <url>', 'schema registry URL (default: SCHEMA_REGISTRY_URL)');
}

async function resolveTarget(file: string, options: SchemasOptions): Promise<Target> {
  const { topology, plan } = await loadTopology(file);
  const { source } = plan;
  if (source.format !== 'avro' || source.schema === undefined) {
    throw new InvalidInputError(`${file}: source format is ${source.format}; schemas push and check are for avro sources`);
  }
  const registryUrl = options.registryUrl ?? loadEnv().schemaRegistryUrl;
  if (registryUrl === undefined) throw new InvalidInputError('no schema registry: set SCHEMA_REGISTRY_URL or pass --registry-url');

  let text: string;
  let origin: string;
  if (options.schemaFile !== undefined) {
    origin = options.schemaFile;
    try {
      text = await readFile(options.schemaFile, 'utf8');
    } catch (error) {
      throw new InvalidInputError(`${options.schemaFile}: cannot read the schema file: ${(error as Error).message}`);
    }
  } else {
    const local = await readLocalSchema(source.schema, options.schemasDir);
    if (local === undefined) {
      throw new InvalidInputError(`${file}: source schema ${source.schema} has no file ${source.schema}.avsc in ${options.schemasDir}; pass --schema-file`);
    }
    ({ text, origin } = local);
  }
  let recordName: string;
  try {
    const type = parseSchemaText(text);
    if (type.typeName !== 'record' || type.name === undefined) throw new Error(`the schema of an event must be an Avro record, not ${type.typeName}`);
    recordName = type.name;
  } catch (error) {
    throw new InvalidInputError(`${origin}: not a valid Avro record schema: ${(error as Error).message}`);
  }
  const strategy: SubjectNameStrategy = topology.source.subjectNameStrategy ?? DEFAULT_SUBJECT_NAME_STRATEGY;
  return { registry: new RegistryClient(registryUrl), text, origin, subjects: valueSubjects(strategy, source.topics, recordName) };
}
