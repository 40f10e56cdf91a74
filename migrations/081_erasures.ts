import type { Knex } from 'knex';

/**
 * erasures: one row per GDPR erasure (`tidings gdpr erase`, POST /admin/users/:userId/erasure),
 * the record that it happened, holding nothing personal but the user id: who asked (actor),
 * why, when, which data keys were destroyed and how many rows of each table were deleted,
 * anonymised or cancelled. The user id is kept on purpose: it is a pseudonym whose key row in
 * user_data_keys stays anyway (destroyed), and without it nobody could answer "was this user
 * erased, and when?" (README, "Erasure (GDPR)"). Append-only; never pruned.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('erasures', (t) => {
    t.uuid('id').primary();
    t.timestamp('erased_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('user_id').notNullable();
    t.text('actor').notNullable();
    t.text('reason');
    t.specificType('destroyed_key_ids', 'uuid[]').notNullable();
    t.jsonb('row_counts').notNullable();
    t.index(['user_id']);
    t.index(['erased_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('erasures');
}
