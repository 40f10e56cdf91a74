import type { Db, Trx } from '../db/database';

/** Final states of a scheduled job; `scheduled` and `claimed` are the live ones. */
export type JobOutcome = 'sent' | 'failed' | 'expired';

export interface DueQueueOptions {
  db: Db;
  /** A table with the job columns of migration 030 (status, next_attempt_at, lease, attempts). */
  table: string;
  /** Written to `claimed_by`, so an operator can see which instance holds a row. */
  instanceId: string;
}

export interface ClaimedJob {
  id: string;
  /** Including this claim. */
  attempts: number;
  /**
   * When this attempt fell due (epoch ms): the job's time (a retry's after a failure), or when
   * the job was written (database clock) if that came later (a renewal announced within the
   * reminder lead time, a payment of a past day): the send could not go out before it was known.
   */
  dueAt: number;
}

/**
 * Rows that become due at a time, shared by any number of dispatcher instances.
 *
 * A claim is one short transaction: due rows are locked with `FOR UPDATE SKIP LOCKED` (two
 * instances never wait for or take the same row) and marked `claimed` with a lease. The
 * lease, on the database clock, is what makes a crash safe: a claimer that dies before
 * finishing leaves its rows to be claimed again once the lease has run out, and only then.
 * Due times are compared with the caller's clock, so tests can move time.
 */
export class DueQueue {
  constructor(private readonly options: DueQueueOptions) {}

  get table(): string {
    return this.options.table;
  }

  async claim(now: number, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
    const { db, table, instanceId } = this.options;
    const result = await db.raw<{ rows: Array<{ id: string; attempts: number; due_at: Date }> }>(
      `WITH due AS (
         SELECT id FROM ?? AS j
         WHERE (j.status = 'scheduled' AND j.next_attempt_at <= ?)
            OR (j.status = 'claimed' AND j.lease_expires_at < now())
         ORDER BY j.next_attempt_at, j.id
         LIMIT ?
         FOR UPDATE SKIP LOCKED
       )
       UPDATE ?? AS t
       SET status = 'claimed', claimed_by = ?, lease_expires_at = now() + (? * interval '1 millisecond'),
           attempts = t.attempts + 1, updated_at = now()
       FROM due WHERE t.id = due.id
       RETURNING t.id, t.attempts, GREATEST(t.next_attempt_at, t.created_at) AS due_at`,
      [table, new Date(now), limit, table, instanceId, leaseMs],
    );
    return result.rows.map((r) => ({ id: String(r.id), attempts: r.attempts, dueAt: r.due_at.getTime() }));
  }

  /**
   * Ends a job this instance still holds (after its lease ran out another instance may have
   * taken it over; then this changes nothing). Inside `trx` when the ledger changes with it.
   */
  async finish(id: string, outcome: JobOutcome, detail: { error?: string; trx?: Trx } = {}): Promise<void> {
    const runner = detail.trx ?? this.options.db;
    await runner(this.options.table)
      .where({ id, status: 'claimed', claimed_by: this.options.instanceId })
      .update({
        status: outcome,
        sent_at: outcome === 'sent' ? runner.fn.now() : null,
        last_error: detail.error ?? null,
        lease_expires_at: null,
        updated_at: runner.fn.now(),
      });
  }

  /** Gives a claimed job back, due again at `nextAttemptAt` (a retriable failure). */
  async release(id: string, nextAttemptAt: number, error: string): Promise<void> {
    await this.options.db(this.options.table)
      .where({ id, status: 'claimed', claimed_by: this.options.instanceId })
      .update({ status: 'scheduled', next_attempt_at: new Date(nextAttemptAt), last_error: error, claimed_by: null, lease_expires_at: null, updated_at: this.options.db.fn.now() });
  }

  /** When the earliest scheduled row is due (epoch ms), if any. */
  async nextDueAt(): Promise<number | undefined> {
    const row = await this.options.db(this.options.table).where({ status: 'scheduled' }).min<{ next: Date | null }>('next_attempt_at as next').first();
    return row?.next ? row.next.getTime() : undefined;
  }
}
