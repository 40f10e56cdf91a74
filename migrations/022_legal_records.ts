import type { Knex } from 'knex';
import { appendOnly } from './020_audit_log';

/**
 * legal_records: receipts and invoices as issued, one per event, never changed afterwards.
 * `content_hash` is the SHA-256 of the document's canonical JSON, so anyone can check a
 * document against it; UPDATE, DELETE and TRUNCATE are refused by the database itself.
 * `payment_id` is null for an invoice that no payment settles yet.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('legal_records', (t) => {
    t.bigIncrements('id');
    t.text('kind').notNullable();
    t.uuid('event_id').notNullable().unique();
    t.text('payment_id');
    t.text('user_id').notNullable();
    t.jsonb('document').notNullable();
    t.specificType('content_hash', 'char(64)').notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['payment_id']);
    t.index(['user_id', 'id']);
  });
  await knex.raw(`ALTER TABLE legal_records ADD CONSTRAINT legal_records_kind CHECK (kind IN ('receipt', 'invoice'))`);
  await appendOnly(knex, 'legal_records');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('legal_records');
}
