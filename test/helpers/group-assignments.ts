import { AssignerProtocol, type Admin } from 'kafkajs';

/**
 * The group's current assignment as client id → `topic/partition` list, once the group is
 * stable with `members` members that each own at least one partition; otherwise undefined.
 */
export async function stableAssignments(admin: Admin, groupId: string, members: number): Promise<Map<string, string[]> | undefined> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  if (!group || group.state !== 'Stable' || group.members.length !== members) return undefined;
  const byClient = new Map<string, string[]>();
  for (const member of group.members) {
    const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    const partitions = Object.entries(decoded?.assignment ?? {}).flatMap(([topic, ps]) => ps.map((p) => `${topic}/${p}`));
    if (partitions.length === 0) return undefined;
    byClient.set(member.clientId, partitions);
  }
  return byClient;
}
