import type { DataKeyReader } from '../crypto/personal-fields';
import { columnOpener } from '../crypto/sealed-columns';
import type { Db } from '../db/database';
import { recipientSql } from '../notifications/delivery/ledger-recipient';

/** The statuses a delivery_ledger row can have (its CHECK constraint, migration 040). */
export const DELIVERY_STATUSES = ['pending', 'sending', 'sent', 'failed', 'suppressed', 'deferred'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface DeliveryAttempt {
  provider: string;
  status: string;
  error: string | null;
  latencyMs: number;
  attemptedAt: Date;
}

/** One ledger row (an event, channel and recipient) with the history of its provider attempts. */
export interface Delivery {
  id: number;
  eventId: string;
  eventType: string;
  channel: string;
  /** The address (opened when stored sealed; ERASED once the user was erased). */
  recipient: string;
  status: DeliveryStatus;
  /** Why it was suppressed or deferred (opted_out, quiet_hours, rate_limited, …). */
  reason: string | null;
  provider: string | null;
  providerMessageId: string | null;
  error: string | null;
  attempts: number;
  templateVersion: string | null;
  /** When a deferred delivery may go. */
  notBefore: Date | null;
  createdAt: Date;
  updatedAt: Date;
  history: DeliveryAttempt[];
}

export interface DeliveryFilter {
  limit: number;
  /** Only rows with an id below this one (the cursor of the previous page). */
  before?: number;
  status?: DeliveryStatus;
  channel?: string;
  eventType?: string;
}

interface LedgerRow {
  id: string;
  event_id: string;
  event_type: string;
  channel: string;
  recipient: string;
  status: DeliveryStatus;
  reason: string | null;
  provider: string | null;
  provider_message_id: string | null;
  error: string | null;
  attempts: number;
  template_version: string | null;
  not_before: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface AttemptRow {
  ledger_id: string;
  provider: string;
  status: string;
  error: string | null;
  latency_ms: number;
  attempted_at: Date;
}

/**
 * A user's deliveries, newest first, each with its attempts oldest first (two indexed
 * queries). Sealed addresses are opened with `keys` (see ledger-recipient.ts).
 */
export async function deliveriesOfUser(db: Db, userId: string, filter: DeliveryFilter, keys?: DataKeyReader): Promise<Delivery[]> {
  const query = db('delivery_ledger as l')
    .select('id', 'event_id', 'event_type', 'channel', db.raw(`${recipientSql('l')} AS recipient`), 'status', 'reason', 'provider', 'provider_message_id', 'error', 'attempts', 'template_version', 'not_before', 'created_at', 'updated_at')
    .where({ user_id: userId })
    .orderBy('id', 'desc')
    .limit(filter.limit);
  if (filter.before !== undefined) query.where('id', '<', filter.before);
  if (filter.status !== undefined) query.where({ status: filter.status });
  if (filter.channel !== undefined) query.where({ channel: filter.channel });
  if (filter.eventType !== undefined) query.where({ event_type: filter.eventType });
  const rows = (await query) as LedgerRow[];
  const opener = await columnOpener(keys, rows.map((r) => r.recipient));
  const attempts = rows.length === 0 ? [] : ((await db('delivery_attempts').select('ledger_id', 'provider', 'status', 'error', 'latency_ms', 'attempted_at').whereIn('ledger_id', rows.map((r) => r.id)).orderBy('id')) as AttemptRow[]);
  const history = new Map<string, DeliveryAttempt[]>();
  for (const a of attempts) {
    const key = String(a.ledger_id);
    history.set(key, [...(history.get(key) ?? []), { provider: a.provider, status: a.status, error: a.error, latencyMs: a.latency_ms, attemptedAt: a.attempted_at }]);
  }
  return rows.map((r) => ({
    id: Number(r.id),
    eventId: r.event_id,
    eventType: r.event_type,
    channel: r.channel,
    recipient: opener.open(r.recipient),
    status: r.status,
    reason: r.reason,
    provider: r.provider,
    providerMessageId: r.provider_message_id,
    error: r.error,
    attempts: r.attempts,
    templateVersion: r.template_version,
    notBefore: r.not_before,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    history: history.get(String(r.id)) ?? [],
  }));
}
