import type { DataKeyStore } from '../crypto/data-key-store';
import { columnSealer } from '../crypto/sealed-columns';
import type { Db, Trx } from '../db/database';
import { describe } from '../errors';
import { attemptRows } from '../notifications/delivery-attempts';
import { recipientColumns, type RecipientColumns } from '../notifications/delivery/ledger-recipient';
import type { FailoverResult } from '../notifications/providers/failover';
import type { ScheduledDelivery } from './scheduled-job';

export const EMAIL_CHANNEL = 'email';

export type LedgerStatus = 'pending' | 'sent' | 'failed';

export interface LedgerEntry {
  id: string;
  status: LedgerStatus;
  attempts: number;
}

/**
 * The scheduler's side of the shared delivery ledger (unique per event id, channel and
 * recipient). A delivery's row is written `pending` before the send and `sent` after the
 * provider accepted, so a second claim of the same reminder or digest (after a crash or a
 * lease that ran out) finds it `sent` and sends nothing. Each provider attempt gets a
 * `delivery_attempts` row, as for event notifications.
 */
export class ScheduledLedger {
  constructor(private readonly db: Db) {}

  /** The delivery's ledger row, created `pending` if it is the first attempt. */
  async open(delivery: ScheduledDelivery): Promise<LedgerEntry> {
    const key = { event_id: delivery.deliveryId, channel: EMAIL_CHANNEL, recipient: delivery.ledgerRecipient.recipient };
    await this.db('delivery_ledger')
      .insert({ ...key, recipient_sealed: delivery.ledgerRecipient.recipient_sealed, event_type: delivery.kind, user_id: delivery.userId, status: 'pending', template_version: delivery.email.version })
      .onConflict(['event_id', 'channel', 'recipient'])
      .ignore();
    const row = await this.db('delivery_ledger').where(key).first<{ id: string; status: LedgerStatus; attempts: number } | undefined>('id', 'status', 'attempts');
    if (!row) throw new Error(`ledger row of delivery ${delivery.deliveryId} vanished`);
    return { id: String(row.id), status: row.status, attempts: row.attempts };
  }

  /**
   * Records the outcome of one send and its provider attempts. Only a row still `pending`
   * changes, so a write retried after its commit was lost records nothing twice; false then.
   */
  async record(
    entry: LedgerEntry,
    status: LedgerStatus,
    outcome: { provider?: string; messageId?: string; error?: unknown; attempts: FailoverResult['attempts'] },
    trx: Trx,
  ): Promise<boolean> {
    const updated = await trx('delivery_ledger')
      .where({ id: entry.id, status: 'pending' })
      .update({
        status,
        provider: outcome.provider ?? null,
        provider_message_id: outcome.messageId ?? null,
        attempts: entry.attempts + 1,
        error: outcome.error === undefined ? null : describe(outcome.error).slice(0, 2000),
        updated_at: trx.fn.now(),
      });
    if (updated === 0) return false;
    if (outcome.attempts.length > 0) await trx('delivery_attempts').insert(attemptRows(entry.id, outcome.attempts));
    return true;
  }
}

/** How a scheduled email's address is stored in the ledger (see ledger-recipient.ts): sealed with the user's key when `keys` is given. */
export async function scheduledRecipient(keys: DataKeyStore | undefined, userId: string, address: string): Promise<RecipientColumns> {
  return recipientColumns(await columnSealer(keys, [userId]), EMAIL_CHANNEL, userId, address);
}
