import type { Knex } from 'knex';

/**
 * Claims (leases) on delivery_ledger rows, so two deliverers never both send one row: a
 * deliverer moves a row to `sending` with its claim token, owner and lease expiry in one
 * statement, sends outside any transaction, and finishes the row only while its token still
 * holds it. A `sending` row whose lease has run out (its owner died) may be claimed again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE delivery_ledger DROP CONSTRAINT delivery_ledger_status');
  await knex.raw(
    `ALTER TABLE delivery_ledger ADD CONSTRAINT delivery_ledger_status CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'deferred'))`,
  );
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.uuid('claim_token');
    t.text('claimed_by');
    t.timestamp('claim_expires_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE delivery_ledger SET status = 'pending' WHERE status = 'sending'`);
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.dropColumns('claim_token', 'claimed_by', 'claim_expires_at');
  });
  await knex.raw('ALTER TABLE delivery_ledger DROP CONSTRAINT delivery_ledger_status');
  await knex.raw(
    `ALTER TABLE delivery_ledger ADD CONSTRAINT delivery_ledger_status CHECK (status IN ('pending', 'sent', 'failed', 'suppressed', 'deferred'))`,
  );
}
