import type { Knex } from 'knex';

/**
 * outbox, second version.
 *
 * Deferred encoding: `Outbox.enqueue` no longer asks the schema registry inside the caller's
 * transaction. A row with `avro_fingerprint` holds the Avro body alone, written with the
 * schema of that fingerprint (SHA-256 of its Parsing Canonical Form); the relay looks the
 * schema id up and frames the Confluent wire format when it publishes. A row without one
 * (rows written before this migration, or by services in other languages) still holds the
 * finished wire-format bytes and is published as it is.
 *
 * Set-aside rows: a row the broker refuses for good (record too large, timestamp out of
 * range, topic missing) or whose schema cannot be resolved is marked with `set_aside_at` and
 * the reason, so it no longer blocks the rows behind it. Clearing `set_aside_at` queues it again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (t) => {
    t.text('avro_fingerprint');
    t.timestamp('set_aside_at', { useTz: true });
    t.text('set_aside_code');
    t.text('set_aside_reason');
  });
  // The relay reads the rows still to publish; set-aside rows leave its index.
  await knex.raw('DROP INDEX outbox_unpublished');
  await knex.raw('CREATE INDEX outbox_unpublished ON outbox (xid, id) WHERE published_at IS NULL AND set_aside_at IS NULL');
  await knex.raw('CREATE INDEX outbox_set_aside ON outbox (set_aside_at) WHERE set_aside_at IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX outbox_set_aside');
  await knex.raw('DROP INDEX outbox_unpublished');
  await knex.raw('CREATE INDEX outbox_unpublished ON outbox (xid, id) WHERE published_at IS NULL');
  await knex.schema.alterTable('outbox', (t) => {
    t.dropColumn('set_aside_reason');
    t.dropColumn('set_aside_code');
    t.dropColumn('set_aside_at');
    t.dropColumn('avro_fingerprint');
  });
}
