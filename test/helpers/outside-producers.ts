/**
 * Producers flowyard did not write, for tests that feed it what real systems send: kcat
 * (librdkafka; Debian package `kcat`, installed by infra/kafka.sh) and Kafka's own Java
 * console producer from the broker jars infra/kafka.sh caches.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { repo } from './cli.js';

export const BROKER = process.env.KAFKA_BROKERS?.split(',')[0] ?? '127.0.0.1:9092';

/** Runs `command args` with `input` on stdin; rejects with its stderr unless it exits 0. */
function run(command: string, args: readonly string[], input: string | Buffer = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${Buffer.concat(stderr).toString().trim()}`)),
    );
    child.stdin.end(input);
  });
}

export interface KcatOptions {
  /** -z: none, gzip, snappy, lz4, zstd. */
  readonly codec: string;
  readonly partition?: number;
  /** Headers on every record (-H name=value), in order; a name may repeat. */
  readonly headers?: readonly (readonly [string, string])[];
  /** Records are `key<delimiter>value` lines (-K); without it keys are null. */
  readonly keyDelimiter?: string;
}

/**
 * Produces one record per line of `lines` with kcat in one run: librdkafka batches them (with
 * linger 0 several batches can form), compressed with `codec`, acks=all.
 */
export function kcatProduce(topic: string, lines: readonly string[], options: KcatOptions): Promise<void> {
  const args = ['-P', '-b', BROKER, '-t', topic, '-z', options.codec, '-X', 'acks=all', '-X', 'linger.ms=50'];
  if (options.partition !== undefined) args.push('-p', String(options.partition));
  if (options.keyDelimiter !== undefined) args.push('-K', options.keyDelimiter);
  for (const [name, value] of options.headers ?? []) args.push('-H', `${name}=${value}`);
  return run('kcat', args, `${lines.join('\n')}\n`);
}

/** Produces `files` with kcat, each file's bytes as one record's value (binary values, no line splitting). */
export function kcatProduceFiles(topic: string, files: readonly string[], options: KcatOptions): Promise<void> {
  const args = ['-P', '-b', BROKER, '-t', topic, '-z', options.codec, '-X', 'acks=all'];
  if (options.partition !== undefined) args.push('-p', String(options.partition));
  for (const [name, value] of options.headers ?? []) args.push('-H', `${name}=${value}`);
  return run('kcat', [...args, ...files]);
}

/** The broker jars infra/kafka.sh fetched (Kafka version from infra/kafka/pom.xml). */
export function kafkaJars(): string {
  const version = /<kafka\.version>(.*)<\/kafka\.version>/.exec(readFileSync(`${repo}infra/kafka/pom.xml`, 'utf8'))?.[1];
  if (version === undefined) throw new Error('infra/kafka/pom.xml names no kafka.version');
  return `${process.env.FLOWYARD_CACHE_DIR ?? `${homedir()}/.cache/flowyard`}/kafka-${version}/libs/*`;
}

export interface JavaProducerOptions {
  readonly codec: string;
  /** Lines are `key<TAB>value` (parse.key); the key `null` stands for a null key (null.marker). */
  readonly keyed?: boolean;
}

/** Produces one record per line with Kafka's Java console producer (kafka.tools.ConsoleProducer). */
export function javaProduce(topic: string, lines: readonly string[], options: JavaProducerOptions): Promise<void> {
  const args = ['-cp', kafkaJars(), 'kafka.tools.ConsoleProducer', '--bootstrap-server', BROKER, '--topic', topic, '--compression-codec', options.codec];
  args.push('--producer-property', 'acks=all');
  if (options.keyed) args.push('--property', 'parse.key=true', '--property', 'null.marker=null');
  return run('java', args, `${lines.join('\n')}\n`);
}
