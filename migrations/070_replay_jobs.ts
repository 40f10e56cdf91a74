import type { Knex } from 'knex';

/**
 * replay_jobs: one row per `tidings replay` run (not dry runs): what was asked (`request`), the
 * next offset to read of each selected partition and its end (`positions`), what was done so
 * far (`counts`) and the status. A stopped or failed job is resumed from `positions`; the
 * heartbeat tells a job whose process died from one that is still running.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('replay_jobs', (t) => {
    t.uuid('id').primary();
    t.text('mode').notNullable();
    t.text('group_id');
    t.text('to_topic');
    t.text('status').notNullable();
    t.jsonb('request').notNullable();
    t.jsonb('positions').notNullable();
    t.jsonb('counts').notNullable();
    t.bigInteger('total').notNullable();
    t.text('created_by').notNullable();
    // --resend: only events the group had processed by then are sent again.
    t.timestamp('resend_cutoff', { useTz: true });
    t.text('error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('heartbeat_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
    t.index(['created_at']);
  });
  await knex.raw(`ALTER TABLE replay_jobs ADD CONSTRAINT replay_jobs_status CHECK (status IN ('running', 'interrupted', 'done', 'failed'))`);
  await knex.raw(`ALTER TABLE replay_jobs ADD CONSTRAINT replay_jobs_mode CHECK (mode IN ('reprocess', 'resend', 'republish'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('replay_jobs');
}
