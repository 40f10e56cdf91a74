import type { Knex } from 'knex';

/**
 * Indexes for the retention pruner (src/retention/pruner.ts): each operational table is
 * pruned by age, oldest first, in bounded batches, so each batch must find its rows without
 * scanning the table. (The outbox has outbox_published_at already.)
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX inbox_processed_at ON inbox (processed_at)');
  await knex.raw('CREATE INDEX delivery_ledger_updated_at ON delivery_ledger (updated_at)');
  await knex.raw('CREATE INDEX delivery_attempts_attempted_at ON delivery_attempts (attempted_at)');
  await knex.raw('CREATE INDEX rate_limit_counters_window_start ON rate_limit_counters (window_start)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX rate_limit_counters_window_start');
  await knex.raw('DROP INDEX delivery_attempts_attempted_at');
  await knex.raw('DROP INDEX delivery_ledger_updated_at');
  await knex.raw('DROP INDEX inbox_processed_at');
}
