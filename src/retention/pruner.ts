import type { Knex } from 'knex';
import type { Db } from '../db/database';
import { describe } from '../errors';
import { createLogger, type Logger } from '../observability/logger';
import { RetryAbortedError, sleep } from '../retry/retry';
import { retentionSettings, type RetentionOptionsInput, type RetentionSettings } from './retention-options';

export const RETENTION_TABLES = ['delivery_attempts', 'delivery_ledger', 'inbox', 'rate_limit_counters', 'outbox'] as const;
export type RetentionTable = (typeof RETENTION_TABLES)[number];
export type PruneCounts = Record<RetentionTable, number>;

/**
 * Ledger statuses after which a row is history. Listed rather than excluded, so a row in any
 * other state (`pending`, `sending`, `deferred`, or a state added later) is never pruned.
 */
const FINISHED_STATUSES = ['sent', 'failed', 'suppressed'];

// First key of the two-key advisory locks the pruners take; the second is hashtext(scope).
// Arbitrary but fixed: other users of advisory locks in the same database must not use it.
export const PRUNE_LOCK = 74_686_120;

/**
 * Whose inbox rows to prune: `none` (a group without an inbox, or one whose source topics
 * keep records forever), `all` groups, or the listed consumer groups.
 */
export type InboxScope = 'none' | 'all' | readonly string[];

export interface PrunerOptions extends RetentionOptionsInput {
  db: Db;
  /** Default `none`: the caller decides once the start-up check has passed (see inbox-retention.ts). */
  inbox?: InboxScope;
  logger?: Logger;
  /** The time cut-offs are computed from. Default the system clock. */
  clock?: () => Date;
}

export interface PruneResult {
  /** Rows deleted, or with `dryRun` the rows that would be. */
  counts: PruneCounts;
  /** Scopes skipped because another instance held their lock (it is pruning them now). */
  busy: string[];
}

interface Target {
  table: RetentionTable;
  /** The rows past their retention that may go, as a query selecting their ctid. */
  select(db: Db, now: Date): Knex.QueryBuilder;
}

/**
 * Deletes the rows of the operational tables that have outlived their retention, in bounded
 * batches (`DELETE … WHERE ctid IN (SELECT … LIMIT n)`), so a prune never holds many row locks
 * or a long transaction. Rows still needed are never selected: unfinished ledger rows and
 * their attempts, unpublished (or set-aside) outbox rows, counters of an open window, and
 * the inbox of groups outside `inbox`.
 *
 * Any number of instances may run one: each scope (the shared tables, each group's inbox) is
 * pruned by one instance at a time, under a session-level advisory lock.
 */
export class Pruner {
  readonly settings: RetentionSettings;
  private readonly logger: Logger;
  private readonly inbox: InboxScope;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: PrunerOptions) {
    const { db: _db, inbox, logger, clock: _clock, ...retention } = options;
    this.settings = retentionSettings(retention);
    this.inbox = inbox ?? 'none';
    this.logger = logger ?? createLogger('retention');
  }

  /** Prunes every table once. With `dryRun`, counts what would go and deletes nothing. */
  async prune(options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<PruneResult> {
    const now = this.options.clock?.() ?? new Date();
    const counts = Object.fromEntries(RETENTION_TABLES.map((t) => [t, 0])) as PruneCounts;
    const busy: string[] = [];
    for (const [scope, targets] of this.scopes()) {
      const ran = await this.exclusively(scope, options.dryRun === true, async () => {
        for (const target of targets) {
          counts[target.table] += options.dryRun ? await this.count(target, now) : await this.deleteInBatches(target, now, options.signal);
        }
      });
      if (!ran) busy.push(scope);
    }
    return { counts, busy };
  }

  /** Prunes now and then every `intervalMs` until `stop()`; a failed round is logged and the next one tries again. */
  start(): void {
    if (this.loop) return;
    const signal = this.stopping.signal;
    this.loop = (async () => {
      while (!signal.aborted) {
        try {
          const { counts, busy } = await this.prune({ signal });
          const deleted = Object.values(counts).reduce((a, b) => a + b, 0);
          if (deleted > 0 || busy.length > 0) this.logger.info({ counts, busy }, 'pruned rows past their retention');
        } catch (error) {
          if (error instanceof RetryAbortedError) return;
          this.logger.warn({ error: describe(error), retryInMs: this.settings.intervalMs }, 'pruning failed; trying again at the next interval');
        }
        await sleep(this.settings.intervalMs, signal).catch(() => undefined);
      }
    })();
  }

  /** Stops the periodic pruning; a batch in progress finishes first. Idempotent. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private scopes(): Array<[string, Target[]]> {
    const s = this.settings;
    const cutoff = (now: Date, ms: number): Date => new Date(now.getTime() - ms);
    const shared: Target[] = [
      {
        table: 'delivery_attempts',
        select: (db, now) =>
          db('delivery_attempts as a')
            .select('a.ctid')
            .join('delivery_ledger as l', 'l.id', 'a.ledger_id')
            .where('a.attempted_at', '<', cutoff(now, s.attemptsMs))
            .whereIn('l.status', FINISHED_STATUSES),
      },
      {
        // Its attempts go with it (ON DELETE CASCADE).
        table: 'delivery_ledger',
        select: (db, now) => db('delivery_ledger').select('ctid').where('updated_at', '<', cutoff(now, s.ledgerMs)).whereIn('status', FINISHED_STATUSES),
      },
      {
        table: 'rate_limit_counters',
        select: (db, now) => db('rate_limit_counters').select('ctid').where('window_start', '<', cutoff(now, s.rateLimitCountersMs)),
      },
      {
        // Unpublished rows, including any set aside for an operator, have no published_at.
        table: 'outbox',
        select: (db, now) => db('outbox').select('ctid').whereNotNull('published_at').where('published_at', '<', cutoff(now, s.outboxMs)),
      },
    ];
    const scopes: Array<[string, Target[]]> = [['shared', shared]];
    if (this.inbox === 'none') return scopes;
    const groups = this.inbox;
    const inbox: Target = {
      table: 'inbox',
      select: (db, now) => {
        const query = db('inbox').select('ctid').where('processed_at', '<', cutoff(now, s.inboxMs));
        return groups === 'all' ? query : query.whereIn('consumer_group', [...groups]);
      },
    };
    scopes.push([groups === 'all' ? 'inbox:*' : `inbox:${[...groups].sort().join(',')}`, [inbox]]);
    return scopes;
  }

  private async count(target: Target, now: Date): Promise<number> {
    const { db } = this.options;
    const row = await db.from(target.select(db, now).as('expired')).count<Array<{ n: string }>>('* as n').first();
    return Number(row?.n ?? 0);
  }

  /** One bounded DELETE after another until a batch comes back short. */
  private async deleteInBatches(target: Target, now: Date, signal: AbortSignal | undefined): Promise<number> {
    const { db } = this.options;
    let total = 0;
    for (;;) {
      if (signal?.aborted) throw new RetryAbortedError(`pruning ${target.table}`);
      // ARRAY(…) makes it a TID scan: the batch's rows are fetched by address, not searched again.
      const deleted = await db(target.table)
        .whereRaw('ctid = ANY(ARRAY(?))', [target.select(db, now).limit(this.settings.batchSize)])
        .delete();
      total += deleted;
      if (deleted < this.settings.batchSize) return total;
    }
  }

  /**
   * Runs `work` holding the scope's advisory lock on a connection of its own (released with
   * the connection if the process dies); false if another instance holds it. A dry run
   * changes nothing, so it needs no lock.
   */
  private async exclusively(scope: string, dryRun: boolean, work: () => Promise<void>): Promise<boolean> {
    if (dryRun) {
      await work();
      return true;
    }
    const { db } = this.options;
    const connection: unknown = await db.client.acquireConnection();
    try {
      const taken = await db.raw<{ rows: Array<{ ok: boolean }> }>('SELECT pg_try_advisory_lock(?, hashtext(?)) AS ok', [PRUNE_LOCK, scope]).connection(connection);
      if (!taken.rows[0]?.ok) return false;
      try {
        await work();
      } finally {
        await db.raw('SELECT pg_advisory_unlock(?, hashtext(?))', [PRUNE_LOCK, scope]).connection(connection);
      }
      return true;
    } finally {
      await db.client.releaseConnection(connection);
    }
  }
}
