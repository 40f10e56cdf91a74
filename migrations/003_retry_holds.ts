import type { Knex } from 'knex';

/**
 * retry_holds: the events of ordered topics (payment events) that are waiting in a retry
 * tier, or waiting behind one, per (consumer group, source topic, key). While a key has
 * rows here its later events are held back; the lowest `seq` is the head of the line.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('retry_holds', (t) => {
    t.text('consumer_group').notNullable();
    t.uuid('event_id').notNullable();
    t.text('topic').notNullable();
    t.text('message_key').notNullable();
    t.bigIncrements('seq', { primaryKey: false });
    t.integer('tier').notNullable();
    t.timestamp('held_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['consumer_group', 'event_id']);
    t.index(['consumer_group', 'topic', 'message_key', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('retry_holds');
}
