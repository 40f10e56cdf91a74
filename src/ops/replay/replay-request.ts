import { z } from 'zod';
import { durationMs, parseOptions } from '../../config/options';
import { ConfigError } from '../../errors';
import { isEventType, listEventDefinitions } from '../../events/catalog';

/** The consumer groups a replay can reprocess through. */
export const REPLAY_GROUPS = ['notification', 'audit', 'analytics', 'scheduler'] as const;
export type ReplayGroupName = (typeof REPLAY_GROUPS)[number];

/** reprocess: through a group, idempotently; resend: notifications again; republish: copy to another topic. */
export type ReplayMode = 'reprocess' | 'resend' | 'republish';

const requestSchema = z
  .object({
    group: z.enum(REPLAY_GROUPS, { error: `must be one of ${REPLAY_GROUPS.join(', ')}` }).optional(),
    /** The group's Kafka group id, when it is not the default `tidings.<group>`. */
    groupId: z.string().min(1).optional(),
    lane: z.enum(['all', 'priority', 'bulk'], { error: 'must be all, priority or bulk' }).optional(),
    /** The group's retry tiers, as it runs with them (its failures go there). */
    retryDelaysMs: z.array(durationMs).min(1).optional(),
    resend: z.boolean().default(false),
    toTopic: z.string().min(1).optional(),
    /** Source topics, as given (full names, or names without the platform's prefix). Default: the group's, or both event topics. */
    topics: z.array(z.string().min(1)).default([]),
    types: z.array(z.string().refine(isEventType, { error: (issue) => `"${String(issue.input)}" is not an event type (known: ${knownTypes()})` })).default([]),
    user: z.string().min(1).optional(),
    fromMs: z.number().int().nonnegative().optional(),
    toMs: z.number().int().nonnegative().optional(),
    /** Per-partition offsets of one topic, e.g. `0:100-200,1:50-` (see offset-spec.ts). */
    offsets: z.string().min(1).optional(),
    /** Events per second at most. */
    rate: z.number().positive().optional(),
    /** Records per chunk: one database transaction, one progress save. */
    chunkSize: z.number().int().min(1).max(10_000).default(100),
    reason: z.string().min(1).optional(),
  })
  .strict();

export type ReplayRequestInput = z.input<typeof requestSchema>;
export type ReplayRequest = z.output<typeof requestSchema>;

function knownTypes(): string {
  return listEventDefinitions()
    .map((d) => d.type)
    .join(', ');
}

/**
 * Checks a replay request; a bad or contradictory one is refused with a ConfigError naming
 * the flags and the fix. `dryRun` allows a request that only counts (no group, no target).
 */
export function parseReplayRequest(input: ReplayRequestInput, options: { dryRun?: boolean } = {}): ReplayRequest {
  const request = parseOptions('replay', requestSchema, input, flagName);
  if (request.group && request.toTopic) throw new ConfigError('--group reprocesses and --to-topic republishes: choose one');
  if (!request.group && !request.toTopic && !options.dryRun) {
    throw new ConfigError('say what to do with the records: --group <name> to reprocess them through a consumer group, --to-topic <topic> to republish them (add --dry-run to only count them)');
  }
  if (request.resend && request.group !== 'notification') {
    throw new ConfigError(`--resend re-sends notifications: it needs --group notification${request.group ? ` (${request.group} has no side effects to send again)` : ''}`);
  }
  for (const flag of ['groupId', 'lane', 'retryDelaysMs'] as const) {
    if (request[flag] !== undefined && !request.group) throw new ConfigError(`${flagName(flag)} applies to --group only`);
  }
  if (request.lane !== undefined && request.group !== 'notification') throw new ConfigError('--lane applies to --group notification only');
  if (request.offsets !== undefined && (request.fromMs !== undefined || request.toMs !== undefined)) {
    throw new ConfigError('choose the range either by time (--from/--to) or by offsets (--offsets), not both');
  }
  if (request.offsets === undefined && request.fromMs === undefined && request.toMs === undefined) {
    throw new ConfigError('choose what to replay: --from <time> [--to <time>] (e.g. --from -2h), or --offsets <partition>:<first>-<last> with one --topic');
  }
  if (request.fromMs !== undefined && request.toMs !== undefined && request.fromMs > request.toMs) {
    throw new ConfigError(`--from (${new Date(request.fromMs).toISOString()}) is after --to (${new Date(request.toMs).toISOString()}): swap them`);
  }
  if (request.offsets !== undefined && request.topics.length !== 1) {
    throw new ConfigError(`--offsets names partitions of one topic: add exactly one --topic (got ${request.topics.length})`);
  }
  return request;
}

export function modeOf(request: ReplayRequest): ReplayMode | undefined {
  if (request.toTopic) return 'republish';
  if (!request.group) return undefined;
  return request.resend ? 'resend' : 'reprocess';
}

/** The command-line flag of a request field (`retryDelaysMs` → `--retry-delays`, `types.0` → `--type`). */
function flagName(path: string): string {
  const key = path.split('.')[0] ?? path;
  const named: Record<string, string> = { retryDelaysMs: '--retry-delays', fromMs: '--from', toMs: '--to', types: '--type', topics: '--topic' };
  return named[key] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
