import { AssignerProtocol, type Admin, type GroupDescription } from 'kafkajs';
import pLimit from 'p-limit';
import { UnknownGroupError, type ActiveMember } from './admin-errors';

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface GroupMember extends ActiveMember {
  /** Partitions the group leader gave this member, by topic. */
  assignment: TopicPartitions[];
  /** Topics the member subscribed to. */
  subscribedTopics: string[];
}

export interface GroupDetails {
  groupId: string;
  /** The broker's group state: Stable, Empty, PreparingRebalance, CompletingRebalance, Dead. */
  state: string;
  protocolType: string;
  /** The partition assignor the members agreed on (e.g. RoundRobinAssigner). */
  assignor: string;
  members: GroupMember[];
}

export interface GroupSummary {
  groupId: string;
  state: string;
  protocolType: string;
  members: number;
  /** Reads a topic of the event contract (or its retry tiers and DLQs), or is named `tidings.…`. */
  tidings: boolean;
  /** Topics with a committed offset or a subscribed member. */
  topics: string[];
}

/** The consumer group that holds the offsets of `groupId`'s retry tiers (src/consumer/consumer-runtime.ts). */
export function retryGroupOf(groupId: string): string {
  return `${groupId}.retry`;
}

/** Ids of every group the brokers know, sorted. */
export async function listGroupIds(admin: Admin): Promise<string[]> {
  const { groups } = await admin.listGroups();
  return groups.map((g) => g.groupId).sort();
}

/** Throws UnknownGroupError when the brokers do not know `groupId`. */
export async function assertGroupExists(admin: Admin, groupId: string, known?: readonly string[]): Promise<void> {
  if (!(known ?? (await listGroupIds(admin))).includes(groupId)) throw new UnknownGroupError(groupId);
}

/** Members of a described group with their assignment and subscription decoded. */
export function groupMembers(group: GroupDescription): GroupMember[] {
  // Assignments and subscriptions are in the consumer protocol's format only for consumer groups.
  const consumer = group.protocolType === 'consumer';
  return group.members
    .map((m) => {
      let assignment: TopicPartitions[] = [];
      let subscribedTopics: string[] = [];
      if (consumer) {
        const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        assignment = Object.entries(decoded?.assignment ?? {})
          .map(([topic, partitions]) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) }))
          .sort((a, b) => a.topic.localeCompare(b.topic));
        subscribedTopics = m.memberMetadata.length > 0 ? [...(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? [])].sort() : [];
      }
      return { memberId: m.memberId, clientId: m.clientId, host: m.clientHost.replace(/^\//, ''), assignment, subscribedTopics };
    })
    .sort((a, b) => a.memberId.localeCompare(b.memberId));
}

/** Topics the members subscribed to or were assigned. */
export function memberTopics(members: readonly GroupMember[]): string[] {
  return [...new Set(members.flatMap((m) => [...m.subscribedTopics, ...m.assignment.map((a) => a.topic)]))];
}

function details(group: GroupDescription): GroupDetails {
  return { groupId: group.groupId, state: group.state, protocolType: group.protocolType, assignor: group.protocol, members: groupMembers(group) };
}

/** State, assignor and members (client id, host, assignment) of one group; UnknownGroupError if the brokers do not know it. */
export async function describeGroup(admin: Admin, groupId: string, known?: readonly string[]): Promise<GroupDetails> {
  await assertGroupExists(admin, groupId, known);
  const { groups } = await admin.describeGroups([groupId]);
  const [group] = groups;
  if (group === undefined) throw new UnknownGroupError(groupId);
  return details(group);
}

/** Committed offset per topic and partition; `null` where the group has committed nothing. */
export type CommittedOffsets = Map<string, Map<number, number | null>>;

/**
 * The group's committed offsets: of every topic it committed to, plus `topics` (whose
 * partitions without a commit come back as null).
 */
export async function committedOffsets(admin: Admin, groupId: string, topics: readonly string[] = []): Promise<CommittedOffsets> {
  const result: CommittedOffsets = new Map();
  const add = (answer: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>): void => {
    for (const { topic, partitions } of answer) {
      const byPartition = result.get(topic) ?? new Map<number, number | null>();
      for (const p of partitions) {
        const offset = Number(p.offset);
        if (!byPartition.has(p.partition) || offset >= 0) byPartition.set(p.partition, offset >= 0 ? offset : null);
      }
      result.set(topic, byPartition);
    }
  };
  add(await admin.fetchOffsets({ groupId }));
  const more = topics.filter((t) => !result.has(t));
  if (more.length > 0) add(await admin.fetchOffsets({ groupId, topics: more }));
  return result;
}

/**
 * Every group with its state and members, Tidings' own marked: a group is Tidings' when one of
 * its topics is a contract topic or derived from one (`<contract topic>.<name>.retry.N`,
 * `… .dlq`), or its id starts with `tidings.`. Tidings' groups come first.
 */
export async function listGroups(admin: Admin, contractTopics: readonly string[]): Promise<GroupSummary[]> {
  const ids = await listGroupIds(admin);
  if (ids.length === 0) return [];
  const { groups } = await admin.describeGroups(ids);
  const limit = pLimit(8);
  const summaries = await Promise.all(
    groups.map((group) =>
      limit(async (): Promise<GroupSummary> => {
        const members = groupMembers(group);
        const committed = group.protocolType === 'consumer' || group.protocolType === '' ? await committedOffsets(admin, group.groupId) : new Map();
        const topics = [...new Set([...committed.keys(), ...memberTopics(members)])].sort();
        const tidings = group.groupId.startsWith('tidings.') || topics.some((t) => contractTopics.some((c) => t === c || t.startsWith(`${c}.`)));
        return { groupId: group.groupId, state: group.state, protocolType: group.protocolType, members: members.length, tidings, topics };
      }),
    ),
  );
  return summaries.sort((a, b) => Number(b.tidings) - Number(a.tidings) || a.groupId.localeCompare(b.groupId));
}
