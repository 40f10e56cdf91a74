import type { Knex } from 'knex';

/**
 * outbox: events written in the caller's business transaction and published to Kafka by the
 * outbox relay. `value` holds the finished Confluent wire-format bytes, so the relay needs
 * no schema registry and services in other languages can insert rows too.
 *
 * `xid` is the writing transaction's id. The relay publishes a row only once every
 * transaction that could still commit a row ahead of it has ended (xid below the snapshot's
 * xmin), and in (xid, id) order; see src/outbox/outbox-relay.ts.
 *
 * The trigger is statement-level and NOTIFY is delivered at commit only, so one wake-up per
 * inserting statement reaches the relays, and a rolled-back transaction wakes nobody.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('outbox', (t) => {
    t.bigIncrements('id');
    t.specificType('xid', 'xid8').notNullable().defaultTo(knex.raw('pg_current_xact_id()'));
    t.uuid('event_id').notNullable().unique();
    t.text('event_type').notNullable();
    t.text('topic').notNullable();
    t.text('message_key');
    t.binary('value').notNullable();
    t.jsonb('headers').notNullable().defaultTo('{}');
    // The Kafka record timestamp (the event's occurred_at); null lets the producer stamp it.
    t.timestamp('occurred_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('published_at', { useTz: true });
  });
  // The relay reads unpublished rows in publish order; the partial index stays small.
  await knex.raw('CREATE INDEX outbox_unpublished ON outbox (xid, id) WHERE published_at IS NULL');
  await knex.raw('CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL');

  await knex.raw(`
    CREATE FUNCTION tidings_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('tidings_outbox', '');
      RETURN NULL;
    END $$`);
  await knex.raw(`
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_notify()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('outbox');
  await knex.raw('DROP FUNCTION tidings_outbox_notify()');
}
