import type { Knex } from 'knex';

/**
 * operator_actions: what operators did that changed something (a replay that re-sends, a
 * republish, a dead letter redriven or discarded, an offsets reset, an API key created or
 * revoked): who, what, on what, why and when. Append-only; never pruned.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('operator_actions', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('actor').notNullable();
    t.text('action').notNullable();
    t.text('target').notNullable();
    t.text('reason');
    t.jsonb('details').notNullable().defaultTo('{}');
    t.index(['action', 'at']);
    t.index(['at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('operator_actions');
}
