import type { Knex } from 'knex';

/**
 * analytics_event_counts: how many events of each type each (UTC) day brought, per domain
 * (auth, payment). The analytics group adds to these counters in the same transaction as
 * its inbox rows, so a redelivered or duplicated event is never counted twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('analytics_event_counts', (t) => {
    t.date('day').notNullable();
    t.text('event_type').notNullable();
    t.text('domain').notNullable();
    t.bigInteger('count').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['day', 'event_type', 'domain']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('analytics_event_counts');
}
