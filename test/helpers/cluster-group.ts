import { AssignerProtocol, type Admin } from 'kafkajs';

/**
 * A stable group's assignment as member id → `topic/partition` list. Keyed by member, not by
 * client id (test/helpers/group-assignments.ts): `tidings run` processes all call themselves
 * `tidings`. Undefined while the group is not Stable with `members` members.
 */
export async function memberAssignments(admin: Admin, groupId: string, members: number): Promise<Map<string, string[]> | undefined> {
  const group = (await admin.describeGroups([groupId])).groups[0];
  if (!group || group.state !== 'Stable' || group.members.length !== members) return undefined;
  return new Map(
    group.members.map((member) => {
      const assignment: Record<string, number[]> = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment ?? {};
      return [member.memberId, Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}/${p}`))];
    }),
  );
}
