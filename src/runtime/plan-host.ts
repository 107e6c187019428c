/**
 * Runs the roles of one topology's current plan and hands over to a new plan when the
 * topology file changes (hot reload): the old plan drains (stops fetching, finishes writes
 * in flight, commits) and then the new plan starts. Both plans use the same consumer
 * groups, so the new roles resume exactly where the old ones committed; draining first
 * keeps one member per group and plan, so no record is processed by both.
 */
import type { Plan } from '../topology/plan.js';
import { createRoles, type RoleSelection } from './roles.js';
import type { Role } from './role.js';
import type { SharedClients } from './shared.js';

export class PlanHost implements Role {
  readonly name: string;
  private roles: Role[] = [];
  private current: Plan;
  /** Serialises hand-overs: a second change waits for the first to finish. */
  private switching: Promise<void> = Promise.resolve();

  constructor(
    initial: Plan,
    private readonly shared: SharedClients,
    private readonly selection: RoleSelection,
  ) {
    this.current = initial;
    this.name = `plan:${initial.name}`;
  }

  get plan(): Plan {
    return this.current;
  }

  async start(): Promise<void> {
    await this.startRoles(this.current);
  }

  /** Hands over to `next`; resolves once the new plan's roles run. */
  replace(next: Plan): Promise<void> {
    this.switching = this.switching.then(async () => {
      const previous = this.current;
      if (next.id === previous.id) return;
      const { logger } = this.shared;
      logger.info({ from: previous.id, to: next.id }, 'topology changed: draining the old plan');
      await this.stopRoles();
      this.current = next;
      await this.startRoles(next);
      logger.info({ from: previous.id, to: next.id, plan: next.id }, 'plan switched: the new plan runs');
    });
    return this.switching;
  }

  async stop(): Promise<void> {
    await this.switching.catch(() => undefined);
    await this.stopRoles();
  }

  private async startRoles(plan: Plan): Promise<void> {
    this.roles = await createRoles(plan, this.shared, this.selection);
    for (const role of this.roles) await role.start();
    this.shared.logger.info({ plan: plan.id, roles: this.roles.map((r) => r.name) }, 'plan running');
  }

  private async stopRoles(): Promise<void> {
    const roles = this.roles;
    this.roles = [];
    // Router first: it stops feeding the workers, which then drain what they hold.
    for (const role of roles) await role.stop();
  }
}
