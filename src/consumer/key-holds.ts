import type { Knex } from 'knex';
import type { Db } from '../db/database';
import type { Logger } from '../observability/logger';

export interface Hold {
  eventId: string;
  tier: number;
}

export interface KeyHoldsOptions {
  db: Db;
  groupId: string;
  /** Retry tiers the group has now: a hold in a higher tier (the topology shrank) can never come back. */
  tiers: number;
  /** A hold not moved for this long is presumed lost (its record expired or its topic was deleted) and released. */
  maxAgeMs: number;
  logger: Logger;
}

interface HoldRow {
  event_id: string;
  topic: string;
  message_key: string;
  tier: number;
  held_at: Date;
}

/**
 * Key-ordered retries: while an event of a key waits in a retry tier, later events of that
 * key queue behind it (see migrations/003_retry_holds.ts). The line is kept in PostgreSQL so
 * every instance of the group, and a restarted one, sees the same heads.
 *
 * A line must never outlive the record at its head, or the key stalls for good: holds whose
 * record cannot come back (tier removed, tier topic recreated empty) or that have not moved
 * for `maxAgeMs` are released, each with a log line.
 */
export class KeyHolds {
  private readonly db: Db;
  private readonly groupId: string;

  constructor(private readonly options: KeyHoldsOptions) {
    this.db = options.db;
    this.groupId = options.groupId;
  }

  /**
   * The whole line of each of `keys` that has one, head first; stale holds of those keys are
   * released first. One statement: the release and the read share a snapshot, so the read
   * leaves out what the release took.
   */
  async lines(topic: string, keys: string[]): Promise<Map<string, Hold[]>> {
    const lines = new Map<string, Hold[]>();
    if (keys.length === 0) return lines;
    const unique = [...new Set(keys)];
    const scope = [this.groupId, topic, unique];
    const result = await this.db.raw<{ rows: Array<HoldRow & { released: boolean }> }>(
      `WITH stale AS (
         DELETE FROM retry_holds
         WHERE consumer_group = ? AND topic = ? AND message_key = ANY(?::text[])
           AND (tier > ? OR held_at < now() - make_interval(secs => ?))
         RETURNING event_id, topic, message_key, tier, held_at
       )
       SELECT true AS released, event_id, topic, message_key, tier, held_at, NULL::bigint AS seq FROM stale
       UNION ALL
       SELECT false, event_id, topic, message_key, tier, held_at, seq FROM retry_holds
       WHERE consumer_group = ? AND topic = ? AND message_key = ANY(?::text[]) AND event_id NOT IN (SELECT event_id FROM stale)
       ORDER BY message_key, seq`,
      [...scope, this.options.tiers, this.options.maxAgeMs / 1000, ...scope],
    );
    this.logReleased('stale', result.rows.filter((r) => r.released));
    for (const row of result.rows) {
      if (row.released) continue;
      const line = lines.get(row.message_key) ?? [];
      line.push({ eventId: row.event_id, tier: row.tier });
      lines.set(row.message_key, line);
    }
    return lines;
  }

  /**
   * Releases every hold whose record can no longer come back: in a tier the topology no
   * longer has, or in one of `emptiedTiers` (tier topics just created, so anything that was in
   * them is gone). Run at start-up.
   */
  async releaseUnreachable(emptiedTiers: Array<{ source: string; tier: number }>): Promise<number> {
    return this.releaseWhere('unreachable', (q) =>
      q.andWhere((gone) => {
        gone.where('tier', '>', this.options.tiers);
        for (const t of emptiedTiers) gone.orWhere({ topic: t.source, tier: t.tier });
      }),
    );
  }

  /** Puts events in (or moves them along) the line of their key; keeps their place if already in it. */
  async hold(entries: Array<{ topic: string; key: string; eventId: string; tier: number }>): Promise<void> {
    if (entries.length === 0) return;
    await this.db('retry_holds')
      .insert(entries.map((e) => ({ consumer_group: this.groupId, event_id: e.eventId, topic: e.topic, message_key: e.key, tier: e.tier })))
      .onConflict(['consumer_group', 'event_id'])
      // A move restarts the age: a hold is stale only when its record has not come back for too long.
      .merge({ tier: this.db.raw('excluded.tier'), held_at: this.db.fn.now() });
  }

  /** Takes events out of their line: they succeeded, or went to the DLQ. */
  async release(eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    await this.db('retry_holds').where({ consumer_group: this.groupId }).whereIn('event_id', eventIds).delete();
  }

  async count(): Promise<number> {
    const row = await this.db('retry_holds').where({ consumer_group: this.groupId }).count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  }

  private async releaseWhere(why: 'stale' | 'unreachable', filter: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<number> {
    const released: HoldRow[] = await filter(this.db('retry_holds').where({ consumer_group: this.groupId }))
      .delete()
      .returning(['event_id', 'topic', 'message_key', 'tier', 'held_at']);
    this.logReleased(why, released);
    return released.length;
  }

  private logReleased(why: 'stale' | 'unreachable', released: HoldRow[]): void {
    for (const row of released) {
      this.options.logger.warn(
        { eventId: row.event_id, topic: row.topic, key: row.message_key, tier: row.tier, heldAt: row.held_at, why, maxHoldAgeMs: this.options.maxAgeMs, tiers: this.options.tiers },
        why === 'stale'
          ? 'key hold released: its record has not come back within maxHoldAgeMs; later events of the key go on without it'
          : 'key hold released: its record can no longer come back (tier removed or its topic recreated); later events of the key go on without it',
      );
    }
  }
}
