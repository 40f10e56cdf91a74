import type { Admin } from 'kafkajs';
import { ConfigError } from '../../errors';
import { GroupActiveError, UnknownGroupError } from './admin-errors';
import { committedOffsets, groupMembers, listGroupIds, retryGroupOf } from './consumer-groups';
import { assertTopicsExist, topicOffsets } from './topic-offsets';

/** Where the committed offsets go. */
export type ResetTarget =
  | { kind: 'datetime'; atMs: number }
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset'; offset: number }
  | { kind: 'shift'; by: number };

export interface OffsetResetRequest {
  groupId: string;
  topic: string;
  target: ResetTarget;
  /** Default: every partition of the topic. */
  partitions?: readonly number[];
  /** Allow a group the brokers do not know (to set where a new group starts). Default false. */
  newGroup?: boolean;
}

export interface PartitionReset {
  partition: number;
  /** Committed offset now; null when the group has committed none on this partition. */
  current: number | null;
  next: number;
  start: number;
  end: number;
  /** The offset asked for was outside [start, end] and was moved to the nearest end. */
  clamped: boolean;
  /** end − next: what the group will read once it starts again. */
  lagAfter: number;
}

export interface OffsetResetPlan {
  groupId: string;
  topic: string;
  target: ResetTarget;
  state: string;
  /** Members running now: an execution is refused while there are any. */
  activeMembers: Array<{ memberId: string; clientId: string; host: string }>;
  partitions: PartitionReset[];
}

/** Describes the target in words for output and the operator-action record. */
export function describeTarget(target: ResetTarget): string {
  switch (target.kind) {
    case 'datetime':
      return `to the first record at or after ${new Date(target.atMs).toISOString()}`;
    case 'earliest':
      return 'to the earliest kept record';
    case 'latest':
      return 'to the end (skip everything not yet read)';
    case 'offset':
      return `to offset ${target.offset}`;
    case 'shift':
      return `shifted by ${target.by > 0 ? '+' : ''}${target.by}`;
  }
}

async function activeMembers(admin: Admin, groupId: string): Promise<{ state: string; members: OffsetResetPlan['activeMembers'] }> {
  const [group] = (await admin.describeGroups([groupId])).groups;
  const members = group === undefined ? [] : groupMembers(group).map(({ memberId, clientId, host }) => ({ memberId, clientId, host }));
  return { state: group?.state ?? 'Dead', members };
}

/**
 * What a reset would do, per partition: the committed offset now and the new one. Changes
 * nothing. Unknown topic, group or partition → an error naming it; a retry-tier topic asked
 * of its main group → a ConfigError naming `<group>.retry`, which holds those offsets.
 */
export async function planOffsetReset(admin: Admin, request: OffsetResetRequest): Promise<OffsetResetPlan> {
  const { groupId, topic, target } = request;
  await assertTopicsExist(admin, [topic]);
  const groups = await listGroupIds(admin);
  if (!groups.includes(groupId) && !request.newGroup) {
    throw new UnknownGroupError(groupId, '`tidings groups list` shows the groups the broker knows; to set where a group that has never run will start, add --new-group');
  }
  if (/\.retry\.\d+$/.test(topic) && groups.includes(retryGroupOf(groupId))) {
    throw new ConfigError(`${topic} is a retry tier: its offsets are held by the group "${retryGroupOf(groupId)}", not "${groupId}"; pass --group ${retryGroupOf(groupId)}`);
  }
  const offsets = await topicOffsets(admin, topic);
  const unknown = (request.partitions ?? []).filter((p) => !offsets.some((o) => o.partition === p));
  if (unknown.length > 0) {
    throw new ConfigError(`--partitions: ${topic} has no partition ${unknown.join(', ')}; its partitions are 0 to ${offsets.length - 1}`);
  }
  const chosen = request.partitions === undefined ? offsets : offsets.filter((o) => request.partitions?.includes(o.partition));
  const committed = (await committedOffsets(admin, groupId, [topic])).get(topic);
  const byTime = target.kind === 'datetime' ? await admin.fetchTopicOffsetsByTimestamp(topic, target.atMs) : [];

  const partitions = chosen.map((o): PartitionReset => {
    const current = committed?.get(o.partition) ?? null;
    let asked: number;
    switch (target.kind) {
      case 'datetime':
        // kafkajs answers the end offset for a partition with no record at or after the time.
        asked = Number(byTime.find((t) => t.partition === o.partition)?.offset ?? o.end);
        break;
      case 'earliest':
        asked = o.start;
        break;
      case 'latest':
        asked = o.end;
        break;
      case 'offset':
        asked = target.offset;
        break;
      case 'shift':
        asked = (current ?? o.start) + target.by;
        break;
    }
    const next = Math.min(Math.max(asked, o.start), o.end);
    return { partition: o.partition, current, next, start: o.start, end: o.end, clamped: next !== asked, lagAfter: o.end - next };
  });
  const { state, members } = await activeMembers(admin, groupId);
  return { groupId, topic, target, state, activeMembers: members, partitions };
}

/**
 * Commits the plan's offsets. Refused with GroupActiveError while the group has members (as
 * Kafka's kafka-consumer-groups refuses): a running member would overwrite them with its own
 * next commit. The group is described again right before, so members that started since the
 * plan are caught too; a member joining in between is refused by the broker the same way.
 */
export async function applyOffsetReset(admin: Admin, plan: OffsetResetPlan): Promise<void> {
  const now = await activeMembers(admin, plan.groupId);
  if (now.members.length > 0) throw new GroupActiveError(plan.groupId, now.state, now.members);
  try {
    await admin.setOffsets({ groupId: plan.groupId, topic: plan.topic, partitions: plan.partitions.map((p) => ({ partition: p.partition, offset: String(p.next) })) });
  } catch (error) {
    const after = await activeMembers(admin, plan.groupId);
    if (after.members.length > 0) throw new GroupActiveError(plan.groupId, after.state, after.members);
    throw error;
  }
}
