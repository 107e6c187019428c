/**
 * A partition assigner that gives each topic's partitions only to the members that
 * subscribed to it. kafkajs' round-robin assigner hands the leader's own topics to every
 * member, so two members of one group reading different topics (the old and the new plan's
 * workers of a destination during a live mode switch, or the two plans of a rollout) would
 * get partitions they never read, and the partitions they do read would go unassigned.
 */
import kafkajs, { type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs';

const { AssignerProtocol } = kafkajs;

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

export const subscriptionAwareAssigner: PartitionAssigner = ({ cluster }) => ({
  name: SUBSCRIPTION_AWARE_ASSIGNER,
  version: 0,
  async assign({ members }): Promise<GroupMemberAssignment[]> {
    const subscriptions = members.map((member) => ({
      memberId: member.memberId,
      topics: AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.topics ?? [],
    }));
    const topics = [...new Set(subscriptions.flatMap((s) => s.topics))];
    // The leader knows the metadata of its own topics only; other members may read others.
    await cluster.addMultipleTargetTopics(topics);
    const partitionsOf = Object.fromEntries(topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId)]));
    const assignment = assignBySubscription(subscriptions, partitionsOf);
    return subscriptions.map(({ memberId }) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: assignment[memberId]!, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: SUBSCRIPTION_AWARE_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
  },
});
