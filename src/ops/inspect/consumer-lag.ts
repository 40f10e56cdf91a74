import type { Admin, GroupDescription } from 'kafkajs';
import pLimit from 'p-limit';
import { assertGroupExists, committedOffsets, groupMembers, listGroupIds, memberTopics, retryGroupOf, type CommittedOffsets } from './consumer-groups';
import { findGroupTopology } from './group-topology';
import { topicOffsetsReader, type PartitionOffsets } from './topic-offsets';

export interface PartitionLag extends PartitionOffsets {
  /** The group's committed offset (the next record it will read); null when it has committed none. */
  committed: number | null;
  /** end − committed; without a commit, end − start (Tidings' groups start from the beginning). */
  lag: number;
}

export interface TopicLag {
  topic: string;
  /** `source`: a topic the group reads; `retry`: one of its retry tiers. */
  role: 'source' | 'retry';
  tier?: number;
  /** The consumer group holding these offsets: the group itself, or `<group>.retry` for the tiers. */
  heldBy: string;
  lag: number;
  partitions: PartitionLag[];
}

export interface DlqDepth {
  topic: string;
  source: string;
  /** Records kept in the DLQ: end − start over its partitions. */
  depth: number;
  partitions: Array<PartitionOffsets & { depth: number }>;
}

export interface GroupLag {
  groupId: string;
  state: string;
  members: number;
  /** Runtime name found in the retry-tier and DLQ topic names, if any. */
  topologyName?: string;
  topics: TopicLag[];
  deadLetters: DlqDepth[];
  totals: LagTotals;
}

export interface LagTotals {
  /** Records not yet read from the source topics. */
  lag: number;
  /** Records waiting in the retry tiers. */
  retryLag: number;
  dlqDepth: number;
}

export interface LagReport {
  groups: GroupLag[];
  totals: LagTotals;
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

function partitionLags(offsets: readonly PartitionOffsets[], committed: Map<number, number | null> | undefined): PartitionLag[] {
  return offsets.map((o) => {
    const at = committed?.get(o.partition) ?? null;
    return { ...o, committed: at, lag: Math.max(0, o.end - (at ?? o.start)) };
  });
}

interface ClusterView {
  topics: ReadonlySet<string>;
  groups: ReadonlyMap<string, GroupDescription>;
  offsetsOf: (topic: string) => Promise<PartitionOffsets[]>;
}

function topicsOfMembers(group: GroupDescription | undefined): string[] {
  return group === undefined ? [] : memberTopics(groupMembers(group));
}

async function lagOf(admin: Admin, groupId: string, view: ClusterView): Promise<GroupLag> {
  const group = view.groups.get(groupId);
  const retryGroupId = retryGroupOf(groupId);
  const retryGroup = view.groups.get(retryGroupId);
  const exists = (topic: string): boolean => view.topics.has(topic);
  const committed = await committedOffsets(admin, groupId, topicsOfMembers(group).filter(exists));
  const sources = [...committed.keys()].filter(exists).sort();

  const retryKnown: CommittedOffsets = retryGroup === undefined ? new Map() : await committedOffsets(admin, retryGroupId);
  const topology = findGroupTopology(groupId, sources, view.topics, [...retryKnown.keys(), ...topicsOfMembers(retryGroup)]);
  // Tiers the retry group never committed to are asked by name: their partitions come back without an offset.
  const retryCommitted = topology.tiers.every((t) => retryKnown.has(t.topic)) ? retryKnown : await committedOffsets(admin, retryGroupId, topology.tiers.map((t) => t.topic));

  const topics: TopicLag[] = [
    ...(await Promise.all(
      sources.map(async (topic): Promise<TopicLag> => {
        const partitions = partitionLags(await view.offsetsOf(topic), committed.get(topic));
        return { topic, role: 'source', heldBy: groupId, lag: sum(partitions, (p) => p.lag), partitions };
      }),
    )),
    ...(await Promise.all(
      topology.tiers.map(async ({ topic, tier }): Promise<TopicLag> => {
        const partitions = partitionLags(await view.offsetsOf(topic), retryCommitted.get(topic));
        return { topic, role: 'retry', tier, heldBy: retryGroupId, lag: sum(partitions, (p) => p.lag), partitions };
      }),
    )),
  ];
  const deadLetters = await Promise.all(
    topology.dlqs.map(async ({ topic, source }): Promise<DlqDepth> => {
      const partitions = (await view.offsetsOf(topic)).map((p) => ({ ...p, depth: p.end - p.start }));
      return { topic, source, depth: sum(partitions, (p) => p.depth), partitions };
    }),
  );
  return {
    groupId,
    state: group?.state ?? 'Unknown',
    members: group?.members.length ?? 0,
    ...(topology.name === undefined ? {} : { topologyName: topology.name }),
    topics,
    deadLetters,
    totals: {
      lag: sum(topics.filter((t) => t.role === 'source'), (t) => t.lag),
      retryLag: sum(topics.filter((t) => t.role === 'retry'), (t) => t.lag),
      dlqDepth: sum(deadLetters, (d) => d.depth),
    },
  };
}

/**
 * Lag of one group (`groupId`) or of every group: per topic and partition the committed
 * offset, the log's start and end and the lag; the group's retry tiers (offsets held by
 * `<group>.retry`) and the depth of its DLQs. Without `groupId`, a `<group>.retry` group is
 * shown within its group. UnknownGroupError for a group the brokers do not know.
 */
export async function lagReport(admin: Admin, options: { groupId?: string } = {}): Promise<LagReport> {
  const ids = await listGroupIds(admin);
  let targets: string[];
  if (options.groupId !== undefined) {
    await assertGroupExists(admin, options.groupId, ids);
    targets = [options.groupId];
  } else {
    const all = new Set(ids);
    targets = ids.filter((id) => !(id.endsWith('.retry') && all.has(id.slice(0, -'.retry'.length))));
  }
  const described = targets.length === 0 ? [] : (await admin.describeGroups([...new Set([...targets, ...targets.map(retryGroupOf).filter((id) => ids.includes(id))])])).groups;
  const view: ClusterView = {
    topics: new Set(await admin.listTopics()),
    groups: new Map(described.map((g) => [g.groupId, g])),
    offsetsOf: topicOffsetsReader(admin),
  };
  const limit = pLimit(4);
  const groups = await Promise.all(targets.map((id) => limit(() => lagOf(admin, id, view))));
  return {
    groups,
    totals: { lag: sum(groups, (g) => g.totals.lag), retryLag: sum(groups, (g) => g.totals.retryLag), dlqDepth: sum(groups, (g) => g.totals.dlqDepth) },
  };
}
