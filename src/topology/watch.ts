/**
 * Hot reload of a topology file. Kubernetes mounts a ConfigMap as
 * `topology.yaml -> ..data/topology.yaml` with `..data -> ..<timestamp>/`, and updates it by
 * renaming a new `..data` symlink over the old one: the file is never written in place, its
 * inode changes, and a watch on the file alone goes quiet after the first update. So we
 * watch the directory (and the file, for a path that is a symlink to elsewhere), re-read on
 * any event after a short debounce, and report only when the content really changed.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { InvalidInputError } from '../errors.js';
import { parseTopology, type Env, type LoadedTopology } from './load.js';

export interface WatchHandlers {
  /** A new valid topology and its plan. */
  onPlan(result: LoadedTopology): void;
  /** The file changed but is invalid (or unreadable): `file:line:col: message` lines. The last good plan stays. */
  onInvalid(problems: readonly string[]): void;
  /**
   * Anything else: the directory watch failed, a handler threw, a bug. Without this
   * handler such an error is rethrown, which ends the process as an uncaught exception.
   */
  onError?(error: unknown): void;
}

export interface WatchOptions {
  env?: Env;
  /** Quiet time before a re-read; a ConfigMap swap fires several events in a burst. */
  debounceMs?: number;
  /** Also report the file's current content once at start (default: only changes). */
  emitInitial?: boolean;
  /**
   * The text the running plan was compiled from. The file is compared with it at once, so a
   * change written between that read and this watch (a ConfigMap update while the process
   * started) is reported instead of becoming the baseline.
   */
  runningText?: string;
}

export interface TopologyWatcher {
  close(): void;
}

const DEFAULT_DEBOUNCE_MS = 200;

/** Watches a topology file and reports each change of its content. */
export function watchTopology(filePath: string, handlers: WatchHandlers, options: WatchOptions = {}): TopologyWatcher {
  const env = options.env ?? process.env;
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  let lastHash: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let fileWatcher: FSWatcher | undefined;
  // Serialises reloads: a slow read never overtakes a later one.
  let reading: Promise<void> = Promise.resolve();

  const fail = (error: unknown): void => {
    if (closed) return;
    if (handlers.onError === undefined) {
      queueMicrotask(() => {
        throw error;
      });
    } else {
      handlers.onError(error);
    }
  };
  const enqueue = (): void => {
    reading = reading.then(reload).catch(fail);
  };

  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      enqueue();
    }, debounceMs);
  };

  /** (Re)attaches the watch on the file itself: after a swap it must follow the new inode. */
  const watchFile = (): void => {
    fileWatcher?.close();
    fileWatcher = undefined;
    try {
      fileWatcher = watch(filePath, schedule);
      fileWatcher.on('error', () => undefined); // the file vanished mid-swap: the directory watch still sees the next state
    } catch {
      // Missing for now (mid-swap or deleted): the directory watch reports when it is back.
    }
  };

  const reload = async (): Promise<void> => {
    if (closed) return;
    watchFile();
    let text: string;
    try {
      text = await readFile(filePath, 'utf8');
    } catch (error) {
      const hash = 'unreadable';
      if (hash === lastHash || closed) return;
      lastHash = hash;
      handlers.onInvalid([`${filePath}: cannot read the topology file: ${(error as Error).message}`]);
      return;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === lastHash || closed) return;
    lastHash = hash;
    let result: LoadedTopology;
    try {
      result = parseTopology(text, filePath, env);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      handlers.onInvalid(error.problems);
      return;
    }
    handlers.onPlan(result);
  };

  const directoryWatcher = watch(dirname(filePath), schedule);
  directoryWatcher.on('error', fail);
  watchFile();
  if (options.emitInitial === true) {
    enqueue();
  } else if (options.runningText !== undefined) {
    lastHash = createHash('sha256').update(options.runningText).digest('hex');
    enqueue();
  } else {
    reading = readFile(filePath, 'utf8').then(
      (text) => {
        lastHash ??= createHash('sha256').update(text).digest('hex');
      },
      () => undefined,
    );
  }

  return {
    close(): void {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      directoryWatcher.close();
      fileWatcher?.close();
    },
  };
}
