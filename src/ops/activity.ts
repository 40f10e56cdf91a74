import type { Knex } from 'knex';
import { maskValuesIn } from '../events/personal-data';

export interface GroupThroughput {
  group: string;
  lastMinute: number;
  last15Minutes: number;
}

/** Events each consumer group recorded in its inbox in the last minute and 15 minutes. */
export async function throughputByGroup(db: Knex): Promise<GroupThroughput[]> {
  const rows = (await db('inbox')
    .select('consumer_group')
    .select(db.raw(`count(*) FILTER (WHERE processed_at > now() - interval '1 minute')::int AS last_minute`))
    .select(db.raw('count(*)::int AS last_15_minutes'))
    .where('processed_at', '>', db.raw(`now() - interval '15 minutes'`))
    .groupBy('consumer_group')
    .orderBy('consumer_group')) as Array<{ consumer_group: string; last_minute: number; last_15_minutes: number }>;
  return rows.map((r) => ({ group: r.consumer_group, lastMinute: r.last_minute, last15Minutes: r.last_15_minutes }));
}

export interface RecentDelivery {
  id: string;
  at: Date;
  userId: string | null;
  eventType: string;
  channel: string;
  status: string;
  /** The provider's message id once sent; the error or the suppression reason otherwise, with the recipient's address masked. */
  detail: string | null;
}

/** The deliveries last changed, newest first (the ledger, without recipients' addresses). */
export async function recentDeliveries(db: Knex, limit: number): Promise<RecentDelivery[]> {
  const rows = (await db('delivery_ledger')
    .select('id', 'updated_at', 'user_id', 'event_type', 'channel', 'status', 'recipient', 'provider_message_id', 'error', 'reason')
    .orderBy('updated_at', 'desc')
    .limit(limit)) as Array<{ id: string; updated_at: Date; user_id: string | null; event_type: string; channel: string; status: string; recipient: string; provider_message_id: string | null; error: string | null; reason: string | null }>;
  return rows.map((r) => {
    // Provider errors quote the address they were sending to (`550 mailbox a@b refused`).
    const detail = r.error ?? r.reason ?? r.provider_message_id;
    return { id: r.id, at: r.updated_at, userId: r.user_id, eventType: r.event_type, channel: r.channel, status: r.status, detail: detail === null ? null : maskValuesIn(detail, [r.recipient]) };
  });
}
