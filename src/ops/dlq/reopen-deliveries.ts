import type { Knex } from 'knex';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A redrive is a deliberate new attempt: the event's deliveries that failed for good (a
 * mailbox refused, a template that did not render) go back to `pending`, so the group that
 * reads the redriven record sends them. Sent, suppressed and deferred deliveries are left
 * alone, so a redrive never sends what already went out. Returns how many were reopened.
 */
export async function reopenFailedDeliveries(db: Knex, eventId: string | null): Promise<number> {
  if (eventId === null || !UUID.test(eventId)) return 0;
  return db('delivery_ledger')
    .where({ event_id: eventId, status: 'failed' })
    .update({ status: 'pending', claim_token: null, claimed_by: null, claim_expires_at: null, updated_at: db.fn.now() });
}
