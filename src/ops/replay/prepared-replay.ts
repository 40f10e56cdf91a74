import type { Progress } from '../../cli/progress';
import type { Logger } from '../../observability/logger';
import type { Platform } from '../../platform';
import { RecordFilter } from './record-filter';
import { buildReplayGroup, type ReplayGroup } from './replay-groups';
import { parseOffsetSpec, resolveRanges, resolveTarget, resolveTopics, type PartitionRange } from './replay-range';
import { modeOf, type ReplayMode, type ReplayRequest } from './replay-request';

/** What a replay command runs with: the platform, where it logs, its Ctrl-C, its progress display. */
export interface ReplayEnvironment {
  platform: Platform;
  logger: Logger;
  /** Aborted by Ctrl-C: the replay stops after the chunk in progress. */
  signal: AbortSignal;
  progress(label: string, total: number): Progress;
}

/** A request checked against the cluster: topics and ranges resolved, the group built. */
export interface PreparedReplay {
  request: ReplayRequest;
  mode: ReplayMode | undefined;
  topics: string[];
  ranges: PartitionRange[];
  group?: ReplayGroup;
  /** The group's Kafka group id (its inbox, tiers and DLQ). */
  groupId?: string;
  target?: string;
  filter: RecordFilter;
  close(): Promise<void>;
}

/**
 * Resolves a request against the cluster: its topics (an unknown one, or one the group does
 * not read, is refused), the offsets of its range fixed now (or `positions`, when a job
 * resumes), the target topic, and the group built as `tidings run` builds it.
 */
export async function prepareReplay(platform: Platform, request: ReplayRequest, positions?: PartitionRange[]): Promise<PreparedReplay> {
  const group = request.group ? buildReplayGroup(platform, request.group, request) : undefined;
  const admin = platform.kafka.admin();
  try {
    await admin.connect();
    const sources = group ? group.runtime.topology.sources : [platform.topics.auth, platform.topics.payment];
    const prefix = platform.endpoints.topicPrefix;
    const groupId = group?.runtime.groupId;
    const topics = await resolveTopics(admin, request.topics, { prefix, defaults: sources, allowed: group ? sources : undefined, groupId });
    const target = request.toTopic ? await resolveTarget(admin, request.toTopic, prefix) : undefined;
    const offsets = request.offsets === undefined ? undefined : parseOffsetSpec(request.offsets);
    const ranges = positions ?? (await resolveRanges(admin, topics, { fromMs: request.fromMs, toMs: request.toMs, offsets }));
    const mode = modeOf(request);
    const filter = new RecordFilter(platform.registry, { types: request.types, user: request.user, keepMalformed: mode === 'republish' }, platform.dataKeys);
    return { request, mode, topics, ranges, group, groupId, target, filter, close: async () => group?.stop() };
  } catch (error) {
    await group?.stop();
    throw error;
  } finally {
    await admin.disconnect();
  }
}
