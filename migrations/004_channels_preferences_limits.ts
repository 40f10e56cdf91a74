import type { Knex } from 'knex';

/**
 * Multi-channel delivery:
 * - delivery_ledger gains `suppressed` (opted out, rate limited, no address) and `deferred`
 *   (quiet hours) statuses, the reason, the template version and, for deferred rows, the
 *   rendered message and when it may go;
 * - delivery_attempts: every provider attempt (provider, status, error, latency);
 * - notification_preferences: per user, category and channel opt-in/out;
 * - quiet_hours: per user, local start/end and time zone;
 * - rate_limit_counters: per user, channel and hour window, shared by every instance.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE delivery_ledger DROP CONSTRAINT delivery_ledger_status');
  await knex.raw(
    `ALTER TABLE delivery_ledger ADD CONSTRAINT delivery_ledger_status CHECK (status IN ('pending', 'sent', 'failed', 'suppressed', 'deferred'))`,
  );
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.text('reason');
    t.text('template_version');
    t.text('user_id');
    t.timestamp('not_before', { useTz: true });
    t.jsonb('message');
    t.index(['status', 'not_before']);
  });

  await knex.schema.createTable('delivery_attempts', (t) => {
    t.bigIncrements('id');
    t.bigInteger('ledger_id').notNullable().references('id').inTable('delivery_ledger').onDelete('CASCADE');
    t.text('provider').notNullable();
    t.text('status').notNullable();
    t.text('error');
    t.integer('latency_ms').notNullable();
    t.timestamp('attempted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['ledger_id']);
  });

  await knex.schema.createTable('notification_preferences', (t) => {
    t.text('user_id').notNullable();
    t.text('category').notNullable();
    t.text('channel').notNullable();
    t.boolean('opted_in').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'category', 'channel']);
  });

  await knex.schema.createTable('quiet_hours', (t) => {
    t.text('user_id').primary();
    t.integer('start_minute').notNullable();
    t.integer('end_minute').notNullable();
    t.text('time_zone').notNullable();
  });

  await knex.schema.createTable('rate_limit_counters', (t) => {
    t.text('user_id').notNullable();
    t.text('channel').notNullable();
    t.timestamp('window_start', { useTz: true }).notNullable();
    t.integer('count').notNullable();
    t.primary(['user_id', 'channel', 'window_start']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limit_counters');
  await knex.schema.dropTable('quiet_hours');
  await knex.schema.dropTable('notification_preferences');
  await knex.schema.dropTable('delivery_attempts');
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.dropColumns('reason', 'template_version', 'user_id', 'not_before', 'message');
  });
}
