import type { Knex } from 'knex';

/**
 * inbox: one row per (consumer group, event id) — the exactly-once guard. A redelivered or
 * duplicated event hits the primary key and becomes a no-op inside the same transaction
 * that would have written its effects.
 * receipts: the legal record of each PAYMENT_SUCCEEDED, unique per event.
 * delivery_ledger: one row per (event, channel, recipient); written as `pending` in the
 * effects transaction, marked `sent` after the provider accepts.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('inbox', (t) => {
    t.text('consumer_group').notNullable();
    t.uuid('event_id').notNullable();
    t.text('event_type').notNullable();
    t.text('topic').notNullable();
    t.integer('partition').notNullable();
    t.bigInteger('offset').notNullable();
    t.timestamp('processed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['consumer_group', 'event_id']);
  });

  await knex.schema.createTable('receipts', (t) => {
    t.bigIncrements('id');
    t.uuid('event_id').notNullable().unique();
    t.text('payment_id').notNullable();
    t.text('user_id').notNullable();
    t.text('order_id');
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('card_last4');
    t.timestamp('paid_at', { useTz: true }).notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['payment_id']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('delivery_ledger', (t) => {
    t.bigIncrements('id');
    t.uuid('event_id').notNullable();
    t.text('event_type').notNullable();
    t.text('channel').notNullable();
    t.text('recipient').notNullable();
    t.text('status').notNullable();
    t.text('provider');
    t.text('provider_message_id');
    t.text('error');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['event_id', 'channel', 'recipient']);
    t.index(['status']);
  });
  await knex.raw(`ALTER TABLE delivery_ledger ADD CONSTRAINT delivery_ledger_status CHECK (status IN ('pending', 'sent', 'failed'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('delivery_ledger');
  await knex.schema.dropTable('receipts');
  await knex.schema.dropTable('inbox');
}
