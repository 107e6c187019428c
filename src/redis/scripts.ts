/**
 * Lua scripts run as ioredis custom commands (`defineCommand`): each call is an EVALSHA of the
 * script's SHA1, so the script text crosses the connection once per socket (ioredis sends EVAL
 * the first time a socket runs it, and again after a NOSCRIPT), not with every call as
 * `redis.eval(TEXT, ...)` does.
 *
 * ioredis types defined commands only through module augmentation of its `Redis` interface,
 * which would add every script to every Redis user's type; a RedisScript carries its own
 * argument and result types instead, and the cast to call the defined command lives here once.
 */
import type { ChainableCommander, Redis } from 'ioredis';

export type ScriptArg = string | number | Buffer;

type DefinedCommand = (...args: readonly ScriptArg[]) => Promise<unknown>;

export class RedisScript<Args extends readonly ScriptArg[], Result> {
  constructor(
    /** The command's name on a client: one name per script in the whole process. */
    readonly name: string,
    readonly lua: string,
    /**
     * How many of the arguments are KEYS. Undefined for a script taking a varying number of
     * keys: the caller then passes the count as the first argument, as with EVAL.
     */
    readonly numberOfKeys?: number,
  ) {}

  /** Runs the script on `redis`, defining it there at the first call. */
  run(redis: Redis, ...args: Args): Promise<Result> {
    this.define(redis);
    // A property call, so the defined command runs with the client as `this`.
    return (redis as unknown as Record<string, DefinedCommand>)[this.name]!(...args) as Promise<Result>;
  }

  /**
   * Queues the script on `pipeline`. ioredis copies a client's defined commands into a
   * pipeline when the pipeline is made: call `define(client)` before `client.pipeline()`.
   */
  queue(pipeline: ChainableCommander, ...args: Args): void {
    const command = (pipeline as unknown as Record<string, DefinedCommand | undefined>)[this.name];
    if (command === undefined) throw new Error(`redis script ${this.name} was not defined on the client before its pipeline was made`);
    void (pipeline as unknown as Record<string, DefinedCommand>)[this.name]!(...args);
  }

  /** Defines the command on `redis` once; a second script under the same name is a programming error. */
  define(redis: Redis): void {
    const known = (redis.scriptsSet as Record<string, { lua: string } | undefined>)[this.name];
    if (known !== undefined) {
      if (known.lua !== this.lua) throw new Error(`redis script name ${this.name} is taken by another script`);
      return;
    }
    redis.defineCommand(this.name, this.numberOfKeys === undefined ? { lua: this.lua } : { lua: this.lua, numberOfKeys: this.numberOfKeys });
    // Auto-pipelining would queue a call on the client's pending pipeline, which may have been
    // made before this definition and lack the command ("pipeline[functionName] is not a
    // function"). A script runs once per batch, so it goes to the socket directly. A new array:
    // ioredis' default one is shared by every client.
    const ignored = redis.options.autoPipeliningIgnoredCommands ?? [];
    redis.options.autoPipeliningIgnoredCommands = [...ignored, this.name];
  }
}
