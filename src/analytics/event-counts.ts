import type { Db, Trx } from '../db/database';

/** One counter: events of `eventType` in `domain` that occurred on `day` (UTC, YYYY-MM-DD). */
export interface EventCount {
  day: string;
  eventType: string;
  domain: string;
  count: number;
}

export interface EventCountFilter {
  /** First day included, YYYY-MM-DD. */
  from?: string;
  /** Last day included, YYYY-MM-DD. */
  to?: string;
  eventType?: string;
  domain?: string;
}

/** The UTC day of an epoch-milliseconds timestamp. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/**
 * Adds to the counters inside the caller's transaction. Rows are written in key order so
 * two instances adding to the same counters lock them in the same order and never deadlock.
 */
export async function addEventCounts(trx: Trx, counts: EventCount[]): Promise<void> {
  const merged = new Map<string, EventCount>();
  for (const c of counts) {
    const key = `${c.day}\u0000${c.eventType}\u0000${c.domain}`;
    const seen = merged.get(key);
    if (seen) seen.count += c.count;
    else merged.set(key, { ...c });
  }
  if (merged.size === 0) return;
  const rows = [...merged]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, c]) => ({ day: c.day, event_type: c.eventType, domain: c.domain, count: c.count }));
  await trx('analytics_event_counts')
    .insert(rows)
    .onConflict(['day', 'event_type', 'domain'])
    .merge({
      count: trx.raw('analytics_event_counts.count + excluded.count'),
      updated_at: trx.fn.now(),
    });
}

/** Counters matching `filter`, by day, then domain, then event type. */
export async function eventCounts(db: Db, filter: EventCountFilter = {}): Promise<EventCount[]> {
  const query = db('analytics_event_counts')
    // to_char keeps the day a plain date string instead of a local-time Date.
    .select(db.raw(`to_char(day, 'YYYY-MM-DD') AS day`), 'event_type', 'domain', 'count')
    .orderBy([{ column: 'day' }, { column: 'domain' }, { column: 'event_type' }]);
  if (filter.from !== undefined) query.where('day', '>=', filter.from);
  if (filter.to !== undefined) query.where('day', '<=', filter.to);
  if (filter.eventType !== undefined) query.where('event_type', filter.eventType);
  if (filter.domain !== undefined) query.where('domain', filter.domain);
  const rows = (await query) as Array<{ day: string; event_type: string; domain: string; count: string }>;
  return rows.map((r) => ({ day: r.day, eventType: r.event_type, domain: r.domain, count: Number(r.count) }));
}
