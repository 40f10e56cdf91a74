import type { Knex } from 'knex';

/**
 * user_data_keys: each user's data key for their personal fields (envelope encryption), kept
 * only wrapped by the key-encryption key (KMS). One live key per user; a GDPR erasure clears
 * `wrapped_key` and sets `destroyed_at`, so every copy of the values sealed with it (in any
 * topic, retry tier, DLQ, table or backup) becomes unreadable while the row remains to say so.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('user_data_keys', (t) => {
    t.uuid('key_id').primary();
    t.text('user_id').notNullable();
    t.text('kms_key_ref').notNullable();
    t.binary('wrapped_key');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('destroyed_at', { useTz: true });
  });
  await knex.raw('CREATE UNIQUE INDEX user_data_keys_live_user ON user_data_keys (user_id) WHERE destroyed_at IS NULL');
  await knex.raw(`ALTER TABLE user_data_keys ADD CONSTRAINT user_data_keys_destroyed CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_data_keys');
}
