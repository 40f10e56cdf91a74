import type { Knex } from 'knex';

/**
 * How a ledger row met its channel's rate limit, written in the same statement that counts
 * it, so retries of one (event, channel, recipient) are counted once:
 * `counted` (it took a slot), `exempt` (the limit was met and the message is mandatory, so it
 * went anyway), NULL (not decided yet, or the channel has no limit).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.text('rate_limit');
  });
  await knex.raw(`ALTER TABLE delivery_ledger ADD CONSTRAINT delivery_ledger_rate_limit CHECK (rate_limit IN ('counted', 'exempt'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.dropColumn('rate_limit');
  });
}
