import type { Db } from '../../db/database';
import { OUTBOX_TABLE } from '../../outbox/outbox';

export interface SetAsideGroup {
  /** Why the relay set the rows aside (MESSAGE_TOO_LARGE, INVALID_TIMESTAMP, TOPIC_MISSING, SCHEMA_NOT_REGISTERED, …). */
  code: string;
  rows: number;
  /** The reason of the newest row of this code, with its event id. */
  sampleReason: string | null;
  sampleEventId: string;
  firstAt: Date;
  lastAt: Date;
}

export interface OutboxStatus {
  /** Rows waiting to be published (not published, not set aside). */
  backlog: number;
  /** Age of the oldest of them in seconds, by the database clock; null without a backlog. */
  oldestAgeSeconds: number | null;
  setAside: SetAsideGroup[];
  setAsideTotal: number;
  publishedLastMinute: number;
}

interface SetAsideRow {
  code: string;
  rows: number;
  sample_reason: string | null;
  sample_event_id: string;
  first_at: Date;
  last_at: Date;
}

/** The outbox as the relay sees it; each query's condition is that of one of the table's partial indexes. */
export async function outboxStatus(db: Db): Promise<OutboxStatus> {
  // One query after the other: a failure leaves none of them waiting for a connection.
  const backlog = (await db(OUTBOX_TABLE)
    .whereNull('published_at')
    .whereNull('set_aside_at')
    .first(db.raw('count(*)::int AS rows'), db.raw('extract(epoch FROM now() - min(created_at))::float8 AS oldest'))) as { rows: number; oldest: number | null };
  const setAside = (await db(OUTBOX_TABLE)
    .whereNotNull('set_aside_at')
    .groupBy('set_aside_code')
    .orderByRaw('count(*) DESC, set_aside_code')
    .select(
      db.raw("coalesce(set_aside_code, 'UNKNOWN') AS code"),
      db.raw('count(*)::int AS rows'),
      db.raw('(array_agg(set_aside_reason ORDER BY set_aside_at DESC, id DESC))[1] AS sample_reason'),
      db.raw('(array_agg(event_id ORDER BY set_aside_at DESC, id DESC))[1] AS sample_event_id'),
      db.raw('min(set_aside_at) AS first_at'),
      db.raw('max(set_aside_at) AS last_at'),
    )) as SetAsideRow[];
  const published = (await db(OUTBOX_TABLE)
    .where('published_at', '>', db.raw("now() - interval '1 minute'"))
    .first(db.raw('count(*)::int AS rows'))) as { rows: number };
  const groups = setAside.map((g) => ({ code: g.code, rows: g.rows, sampleReason: g.sample_reason, sampleEventId: g.sample_event_id, firstAt: g.first_at, lastAt: g.last_at }));
  return {
    backlog: backlog.rows,
    oldestAgeSeconds: backlog.oldest === null ? null : Math.round(backlog.oldest * 10) / 10,
    setAside: groups,
    setAsideTotal: groups.reduce((n, g) => n + g.rows, 0),
    publishedLastMinute: published.rows,
  };
}
