/**
 * A running loop that reads its slice of the plan.
 *
 *   created -> starting -> running -> draining -> stopped
 *                  \           \
 *                   +-----------+--> failed
 *
 * `stop()` is graceful: stop fetching, finish in-flight work, commit offsets, disconnect.
 */
export interface Role {
  /** e.g. `router`, `worker:ledger`; used in logs. */
  readonly name: string;
  /** The topic a worker consumes; roles without one (router, tracker, sequencer) run once per process. */
  readonly inputTopic?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type RoleState = 'created' | 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

const ALLOWED: Readonly<Record<RoleState, readonly RoleState[]>> = {
  created: ['starting', 'stopped'],
  starting: ['running', 'draining', 'failed'],
  running: ['draining', 'failed'],
  draining: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

/** Guards a role's state transitions so a bug shows up as an error, not a zombie loop. */
export class RoleLifecycle {
  private current: RoleState = 'created';
  constructor(private readonly roleName: string) {}

  get state(): RoleState {
    return this.current;
  }

  /** Moves to `draining`; false when there is nothing to drain (already stopped, or never started: now stopped). */
  beginStop(): boolean {
    if (this.current === 'stopped') return false;
    if (this.current === 'created') {
      this.current = 'stopped';
      return false;
    }
    this.to('draining');
    return true;
  }

  to(next: RoleState): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new Error(`${this.roleName}: illegal state transition ${this.current} -> ${next}`);
    }
    this.current = next;
  }
}
