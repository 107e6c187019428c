/**
 * A partition assigner that gives each topic's partitions only to the members that
 * subscribed to it. kafkajs' round-robin assigner hands the leader's own topics to every
 * member, so two members of one group reading different topics (the old and the new plan's
 * workers of a destination during a live mode switch, or the two plans of a rollout) would
 * get partitions they never read, and the partitions they do read would go unassigned.
 */
import kafkajs, { type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs';
import { assignBySubscription, SUBSCRIPTION_AWARE_ASSIGNER } from '../assignment.js';

const { AssignerProtocol } = kafkajs;

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
