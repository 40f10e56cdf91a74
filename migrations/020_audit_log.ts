import type { Knex } from 'knex';

/**
 * audit_log: every event the audit group consumes, once, in a hash chain. `content_hash` is
 * the SHA-256 of the row's canonical content; `chain_hash` = sha256(prev_chain_hash ||
 * content_hash), so editing, inserting or removing a row breaks the chain from that row on
 * (see src/audit/audit-log.ts).
 *
 * tidings_reject_change() makes a table append-only: UPDATE, DELETE and TRUNCATE fail inside
 * PostgreSQL, whichever client tries. Legal records (022) use it too.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION tidings_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP USING ERRCODE = 'TD001';
    END $$`);

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.uuid('event_id').notNullable().unique();
    t.text('event_type').notNullable();
    t.text('user_id').notNullable();
    t.text('topic').notNullable();
    t.integer('partition').notNullable();
    t.bigInteger('offset').notNullable();
    t.text('source').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable();
    t.jsonb('payload').notNullable();
    t.specificType('content_hash', 'char(64)').notNullable();
    t.specificType('prev_chain_hash', 'char(64)').notNullable();
    t.specificType('chain_hash', 'char(64)').notNullable();
    t.index(['user_id']);
  });
  await appendOnly(knex, 'audit_log');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_log');
  await knex.raw('DROP FUNCTION tidings_reject_change()');
}

/** Makes `table` append-only through tidings_reject_change(); used by later migrations too. */
export async function appendOnly(knex: Knex, table: string): Promise<void> {
  await knex.raw(`CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION tidings_reject_change()`);
  await knex.raw(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION tidings_reject_change()`);
}
