import type { Knex } from 'knex';

/**
 * in_app_notifications: the in-app inbox each user sees, one row per (event, user), so a
 * redelivered event adds nothing. `read_at` is null until the user reads it; the partial
 * index keeps unread counts cheap however much history a user has.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('in_app_notifications', (t) => {
    t.bigIncrements('id');
    t.text('user_id').notNullable();
    t.uuid('event_id').notNullable();
    t.text('kind').notNullable();
    t.text('title').notNullable();
    t.text('body').notNullable();
    t.jsonb('data').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('read_at', { useTz: true });
    t.unique(['event_id', 'user_id']);
    t.index(['user_id', 'id']);
  });
  await knex.raw('CREATE INDEX in_app_notifications_unread ON in_app_notifications (user_id) WHERE read_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('in_app_notifications');
}
