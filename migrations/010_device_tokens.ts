import type { Knex } from 'knex';

/**
 * device_tokens: push registration tokens per user. A token FCM reports as unregistered gets
 * `dead_at` and is never sent to again; rows are kept (not deleted) so the reason stays
 * visible and an app re-registering the same stale token cannot revive it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('device_tokens', (t) => {
    t.bigIncrements('id');
    t.text('user_id').notNullable();
    t.text('token').notNullable().unique();
    t.text('platform').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('dead_at', { useTz: true });
    t.text('dead_reason');
  });
  await knex.raw(`ALTER TABLE device_tokens ADD CONSTRAINT device_tokens_platform CHECK (platform IN ('android', 'ios', 'web'))`);
  // activeTokens() reads one user's live tokens on every push.
  await knex.raw('CREATE INDEX device_tokens_user_active ON device_tokens (user_id) WHERE dead_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('device_tokens');
}
