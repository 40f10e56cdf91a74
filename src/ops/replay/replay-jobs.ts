import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/database';
import { ConfigError } from '../../errors';
import type { ReplayCounts } from './replay-counts';
import type { PartitionRange } from './replay-range';
import type { ReplayMode, ReplayRequest } from './replay-request';

export type ReplayStatus = 'running' | 'interrupted' | 'done' | 'failed';

export interface ReplayJob {
  id: string;
  mode: ReplayMode;
  groupId: string | null;
  toTopic: string | null;
  status: ReplayStatus;
  request: ReplayRequest;
  /** Each selected partition: the next offset to read and the end (excluded). */
  positions: PartitionRange[];
  counts: ReplayCounts;
  /** Records in the range when the job was created. */
  total: number;
  createdBy: string;
  resendCutoff: Date | null;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
}

const TABLE = 'replay_jobs';

/** A job whose heartbeat is older than this has lost its process: it may be resumed. */
export const STALE_AFTER_MS = 30_000;
/** How often a running job says it is alive. */
export const HEARTBEAT_MS = 10_000;

interface Row {
  id: string;
  mode: ReplayMode;
  group_id: string | null;
  to_topic: string | null;
  status: ReplayStatus;
  request: ReplayRequest;
  positions: PartitionRange[];
  counts: ReplayCounts;
  total: string | number;
  created_by: string;
  resend_cutoff: Date | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
}

function toJob(row: Row): ReplayJob {
  return {
    id: row.id,
    mode: row.mode,
    groupId: row.group_id,
    toTopic: row.to_topic,
    status: row.status,
    request: row.request,
    positions: row.positions,
    counts: row.counts,
    total: Number(row.total),
    createdBy: row.created_by,
    resendCutoff: row.resend_cutoff,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    heartbeatAt: row.heartbeat_at,
    finishedAt: row.finished_at,
  };
}

/** Replay jobs and their progress in PostgreSQL (migration 070). */
export class ReplayJobs {
  constructor(private readonly db: Db) {}

  async create(job: { mode: ReplayMode; groupId?: string; toTopic?: string; request: ReplayRequest; positions: PartitionRange[]; counts: ReplayCounts; total: number; createdBy: string; resendCutoff?: Date }): Promise<ReplayJob> {
    const [row] = (await this.db(TABLE)
      .insert({
        id: randomUUID(),
        mode: job.mode,
        group_id: job.groupId ?? null,
        to_topic: job.toTopic ?? null,
        status: 'running',
        request: JSON.stringify(job.request),
        positions: JSON.stringify(job.positions),
        counts: JSON.stringify(job.counts),
        total: job.total,
        created_by: job.createdBy,
        resend_cutoff: job.resendCutoff ?? null,
      })
      .returning('*')) as [Row];
    return toJob(row);
  }

  /** Saves the position reached and the counts so far (one statement: they always match). */
  async saveProgress(id: string, positions: PartitionRange[], counts: ReplayCounts): Promise<void> {
    await this.db(TABLE)
      .where({ id })
      .update({ positions: JSON.stringify(positions), counts: JSON.stringify(counts), updated_at: this.db.fn.now(), heartbeat_at: this.db.fn.now() });
  }

  async heartbeat(id: string): Promise<void> {
    await this.db(TABLE).where({ id, status: 'running' }).update({ heartbeat_at: this.db.fn.now() });
  }

  async finish(id: string, status: Exclude<ReplayStatus, 'running'>, error?: string): Promise<void> {
    await this.db(TABLE)
      .where({ id })
      .update({ status, error: error ?? null, updated_at: this.db.fn.now(), finished_at: status === 'done' ? this.db.fn.now() : null });
  }

  async get(id: string): Promise<ReplayJob | undefined> {
    const row = (await this.db(TABLE).where({ id }).first()) as Row | undefined;
    return row ? toJob(row) : undefined;
  }

  /** Newest first. */
  async list(filter: { status?: ReplayStatus; limit?: number } = {}): Promise<ReplayJob[]> {
    const query = this.db(TABLE).orderBy('created_at', 'desc').limit(filter.limit ?? 20);
    if (filter.status) query.where({ status: filter.status });
    return ((await query) as Row[]).map(toJob);
  }

  /**
   * Takes a stopped or failed job (or one whose process died: heartbeat older than
   * STALE_AFTER_MS) to run it on; `id` may be a unique prefix of at least 6 characters.
   * Refused, saying why, when it is done or still running elsewhere.
   */
  async claim(idOrPrefix: string): Promise<ReplayJob> {
    if (!/^[0-9a-f-]{6,36}$/i.test(idOrPrefix)) throw new ConfigError(`"${idOrPrefix}" is not a replay id: give the id \`tidings replay list\` shows (at least its first 6 characters)`);
    const matches = (await this.db(TABLE).whereRaw('id::text LIKE ?', [`${idOrPrefix.toLowerCase()}%`]).select('id', 'status').limit(2)) as Array<{ id: string; status: ReplayStatus }>;
    if (matches.length === 0) throw new ConfigError(`no replay job ${idOrPrefix}: \`tidings replay list\` shows the jobs`);
    if (matches.length > 1) throw new ConfigError(`${idOrPrefix} names more than one replay job: give more of the id`);
    const id = matches[0]!.id;
    const [row] = (await this.db(TABLE)
      .where({ id })
      .where((q) => q.whereIn('status', ['interrupted', 'failed']).orWhere((r) => r.where({ status: 'running' }).where('heartbeat_at', '<', this.db.raw(`now() - make_interval(secs => ?)`, [STALE_AFTER_MS / 1000]))))
      .update({ status: 'running', error: null, updated_at: this.db.fn.now(), heartbeat_at: this.db.fn.now() })
      .returning('*')) as Row[];
    if (row) return toJob(row);
    const job = (await this.get(id)) as ReplayJob;
    if (job.status === 'done') throw new ConfigError(`replay ${id} is done already (finished ${job.finishedAt?.toISOString()}); start a new replay to run it again`);
    throw new ConfigError(`replay ${id} is running in another process (last heartbeat ${job.heartbeatAt.toISOString()}); stop it there with Ctrl-C, or wait ${STALE_AFTER_MS / 1000} s after that process died`);
  }
}
