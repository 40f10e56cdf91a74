import type { Knex } from 'knex';

/** The columns an operator filters dead letters by; each gets an index that also gives the newest first. */
const FILTERED = ['source_topic', 'consumer_group', 'error_class', 'event_type', 'user_id', 'state'] as const;

/**
 * dead_letters: an index of the records in the DLQ topics, one row per record, written by the
 * dead-letter index group (`tidings run dlq-index`). The Kafka record stays the source of
 * truth: a row says where it is (dlq_topic, dlq_partition, dlq_offset), what it is and why
 * it failed, and what an operator did with it (state, by whom, when, why).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('dead_letters', (t) => {
    t.bigIncrements('id');
    t.text('dlq_topic').notNullable();
    t.integer('dlq_partition').notNullable();
    t.bigInteger('dlq_offset').notNullable();
    t.text('record_key');
    t.text('user_id');
    t.text('event_type');
    t.text('event_id');
    t.text('consumer_group');
    t.text('error_class');
    t.text('error_code');
    // Personal values of the payload are masked in it (an SMTP error quoting the address).
    t.text('error_message');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('source_topic');
    t.integer('source_partition');
    t.bigInteger('source_offset');
    t.timestamp('first_failure_at', { useTz: true });
    t.timestamp('dead_lettered_at', { useTz: true }).notNullable();
    t.timestamp('indexed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('state').notNullable().defaultTo('parked');
    t.timestamp('state_changed_at', { useTz: true });
    t.text('state_changed_by');
    t.text('state_reason');
    // Where the last redrive sent it.
    t.text('redriven_to');
    t.integer('redrives').notNullable().defaultTo(0);
    t.unique(['dlq_topic', 'dlq_partition', 'dlq_offset']);
  });
  await knex.raw(`ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_state CHECK (state IN ('parked', 'redriven', 'discarded'))`);
  // Lists are newest first: each filter's index walks in that order and stops at --limit.
  await knex.raw('CREATE INDEX dead_letters_time ON dead_letters (dead_lettered_at DESC, id DESC)');
  for (const column of FILTERED) {
    await knex.raw(`CREATE INDEX dead_letters_${column} ON dead_letters (${column}, dead_lettered_at DESC, id DESC)`);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('dead_letters');
}
