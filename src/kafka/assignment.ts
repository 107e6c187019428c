/**
 * How flowyard's subscription-aware assignor divides partitions, without any client library:
 * each topic's partitions go only to the members that subscribed to it (a client's round-robin
 * assignor hands the leader's own topics to every member, so two members of one group reading
 * different topics — the old and the new plan's workers of a destination during a live mode
 * switch, or the two plans of a rollout — would get partitions they never read). Backends wrap
 * it in their library's assignor interface under one protocol name, so their members can share
 * a group.
 */

export const SUBSCRIPTION_AWARE_ASSIGNER = 'FlowyardSubscriptionRoundRobin';

export interface Subscription {
  readonly memberId: string;
  readonly topics: readonly string[];
}

/** memberId -> topic -> partitions. */
export type Assignment = Record<string, Record<string, number[]>>;

/**
 * Per topic, its partitions round-robin over the members subscribed to it, sorted by id so
 * every leader computes the same result; the starting member rotates from topic to topic
 * so members reading several small topics are loaded evenly.
 */
export function assignBySubscription(subscriptions: readonly Subscription[], partitionsOf: Readonly<Record<string, readonly number[]>>): Assignment {
  const assignment: Assignment = Object.fromEntries(subscriptions.map((s) => [s.memberId, {}]));
  const topics = [...new Set(subscriptions.flatMap((s) => s.topics))].sort();
  let rotation = 0;
  for (const topic of topics) {
    const subscribers = subscriptions.filter((s) => s.topics.includes(topic)).map((s) => s.memberId).sort();
    const partitions = [...(partitionsOf[topic] ?? [])].sort((a, b) => a - b);
    partitions.forEach((partition, i) => {
      const member = subscribers[(i + rotation) % subscribers.length]!;
      (assignment[member]![topic] ??= []).push(partition);
    });
    rotation += partitions.length;
  }
  return assignment;
}
