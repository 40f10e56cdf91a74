import type { Knex } from 'knex';

/**
 * The scheduler's state, so reminders and digests survive restarts (they are rows).
 *
 * renewal_reminders: one row per (subscription, renewal instant). Written by the scheduler
 * group's `apply` (exactly once through the inbox); a later renewal supersedes the pending
 * one, a cancellation cancels it. At most one `scheduled` reminder per subscription.
 * daily_digests: one row per (user, local day), due at the configured local hour of the
 * next day in the user's time zone. digest_entries: the payment events of that day.
 *
 * Both job tables share the dispatcher's columns: `status`, `next_attempt_at` (due time,
 * pushed back after a retriable failure), and a lease (`claimed_by`, `lease_expires_at`)
 * so a crashed claimer's rows are picked up again once the lease runs out.
 */
const JOB_STATUSES = ['scheduled', 'claimed', 'sent', 'failed', 'cancelled', 'superseded', 'expired'];

function jobColumns(knex: Knex, t: Knex.CreateTableBuilder): void {
  t.text('status').notNullable().defaultTo('scheduled');
  t.timestamp('next_attempt_at', { useTz: true }).notNullable();
  t.text('claimed_by');
  t.timestamp('lease_expires_at', { useTz: true });
  t.integer('attempts').notNullable().defaultTo(0);
  t.text('last_error');
  t.timestamp('sent_at', { useTz: true });
  t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
}

async function jobIndexes(knex: Knex, table: string): Promise<void> {
  const statuses = JOB_STATUSES.map((s) => `'${s}'`).join(', ');
  await knex.raw(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_status CHECK (status IN (${statuses}))`);
  // The dispatcher's two questions: what is due, and whose lease has run out.
  await knex.raw(`CREATE INDEX ${table}_due ON ${table} (next_attempt_at) WHERE status = 'scheduled'`);
  await knex.raw(`CREATE INDEX ${table}_leased ON ${table} (lease_expires_at) WHERE status = 'claimed'`);
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('renewal_reminders', (t) => {
    t.bigIncrements('id');
    t.text('subscription_id').notNullable();
    t.text('user_id').notNullable();
    t.uuid('source_event_id').notNullable();
    t.text('recipient_email').notNullable();
    t.text('recipient_name');
    t.text('locale').notNullable();
    t.text('time_zone').notNullable();
    t.text('plan_id').notNullable();
    t.text('plan_name').notNullable();
    t.text('plan_interval').notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.timestamp('renews_at', { useTz: true }).notNullable();
    t.timestamp('remind_at', { useTz: true }).notNullable();
    jobColumns(knex, t);
    t.unique(['subscription_id', 'renews_at']);
    t.index(['user_id']);
  });
  await jobIndexes(knex, 'renewal_reminders');
  await knex.raw(`CREATE UNIQUE INDEX renewal_reminders_one_pending ON renewal_reminders (subscription_id) WHERE status = 'scheduled'`);

  await knex.schema.createTable('daily_digests', (t) => {
    t.bigIncrements('id');
    t.text('user_id').notNullable();
    t.date('digest_date').notNullable();
    t.text('recipient_email').notNullable();
    t.text('recipient_name');
    t.text('locale').notNullable();
    t.text('time_zone').notNullable();
    t.integer('entry_count');
    jobColumns(knex, t);
    t.unique(['user_id', 'digest_date']);
  });
  await jobIndexes(knex, 'daily_digests');

  await knex.schema.createTable('digest_entries', (t) => {
    t.bigIncrements('id');
    t.bigInteger('digest_id').notNullable().references('id').inTable('daily_digests').onDelete('CASCADE');
    t.uuid('event_id').notNullable().unique();
    t.text('event_type').notNullable();
    t.text('kind').notNullable();
    t.text('reference').notNullable();
    t.bigInteger('amount_minor');
    t.specificType('currency', 'char(3)');
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    // An event whose own day's digest had already gone out joins the user's next digest.
    t.boolean('late').notNullable().defaultTo(false);
    t.index(['digest_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('digest_entries');
  await knex.schema.dropTable('daily_digests');
  await knex.schema.dropTable('renewal_reminders');
}
