import type { Db } from '../db/database';

export interface Hold {
  eventId: string;
  tier: number;
}

/**
 * Key-ordered retries: while an event of a key waits in a retry tier, later events of that
 * key queue behind it (see migrations/003_retry_holds.ts). The line is kept in PostgreSQL so
 * every instance of the group, and a restarted one, sees the same heads.
 */
export class KeyHolds {
  constructor(
    private readonly db: Db,
    private readonly groupId: string,
  ) {}

  /** The whole line of each of `keys` that has one, head first. */
  async lines(topic: string, keys: string[]): Promise<Map<string, Hold[]>> {
    const lines = new Map<string, Hold[]>();
    if (keys.length === 0) return lines;
    const rows: Array<{ message_key: string; event_id: string; tier: number }> = await this.db('retry_holds')
      .select('message_key', 'event_id', 'tier')
      .where({ consumer_group: this.groupId, topic })
      .whereIn('message_key', [...new Set(keys)])
      .orderBy([{ column: 'message_key' }, { column: 'seq' }]);
    for (const row of rows) {
      const line = lines.get(row.message_key) ?? [];
      line.push({ eventId: row.event_id, tier: row.tier });
      lines.set(row.message_key, line);
    }
    return lines;
  }

  /** Puts events in (or moves them along) the line of their key; keeps their place if already in it. */
  async hold(entries: Array<{ topic: string; key: string; eventId: string; tier: number }>): Promise<void> {
    if (entries.length === 0) return;
    await this.db('retry_holds')
      .insert(entries.map((e) => ({ consumer_group: this.groupId, event_id: e.eventId, topic: e.topic, message_key: e.key, tier: e.tier })))
      .onConflict(['consumer_group', 'event_id'])
      .merge(['tier']);
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
}
