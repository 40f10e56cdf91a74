import type { Knex } from 'knex';

/**
 * api_keys: the admin API's keys. Only the SHA-256 of each key's random secret is kept; the
 * key itself is shown once, when it is created. A name names one live key at a time (a
 * revoked key keeps its row, so `apikeys list` still shows who had access and until when).
 * Also an index for the admin API's delivery history of one user, newest first.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('scope').notNullable();
    t.specificType('secret_sha256', 'char(64)').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('created_by').notNullable();
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.text('revoked_by');
  });
  await knex.raw(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope CHECK (scope IN ('read', 'operate', 'admin'))`);
  await knex.raw('CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL');
  await knex.raw('CREATE INDEX delivery_ledger_user_id ON delivery_ledger (user_id, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX delivery_ledger_user_id');
  await knex.schema.dropTable('api_keys');
}
