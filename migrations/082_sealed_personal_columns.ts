import type { Knex } from 'knex';

/**
 * Personal data sealed at rest with each user's data key (src/crypto/sealed-columns.ts), when
 * a key-encryption key is configured. Columns that hold personal text (in-app titles and
 * bodies, scheduled emails' recipients, audit payloads, legal documents, a deferred
 * message) take the sealed text as it is; two need a way to be found again:
 *
 * - delivery_ledger: `recipient` stays part of the unique key (event, channel, recipient)
 *   but holds the address's digest under the user's data key (`tdh1:…`); `recipient_sealed`
 *   holds the address sealed (`tdk1:…`). Both are null/plaintext as before when sealing is
 *   off, and for in-app rows (addressed to the user id).
 * - device_tokens: a token is unique across users, so it is found by `token_digest`, the
 *   SHA-256 of the token (a random secret of the push service: its hash reveals nothing);
 *   `token` holds the token sealed. Existing rows get their digest here and keep their
 *   plaintext token until the device registers again (or the user is erased).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.text('recipient_sealed');
  });
  await knex.schema.alterTable('device_tokens', (t) => {
    t.specificType('token_digest', 'char(64)');
  });
  await knex.raw(`UPDATE device_tokens SET token_digest = encode(sha256(convert_to(token, 'UTF8')), 'hex')`);
  await knex.raw('ALTER TABLE device_tokens ALTER COLUMN token_digest SET NOT NULL');
  await knex.raw('ALTER TABLE device_tokens DROP CONSTRAINT device_tokens_token_unique');
  await knex.raw('ALTER TABLE device_tokens ADD CONSTRAINT device_tokens_token_digest_unique UNIQUE (token_digest)');
}

export async function down(knex: Knex): Promise<void> {
  // Sealed tokens cannot be unsealed here (the keys are the application's): they go.
  await knex.raw(`DELETE FROM device_tokens WHERE token LIKE 'tdk1:%'`);
  await knex.raw('ALTER TABLE device_tokens DROP CONSTRAINT device_tokens_token_digest_unique');
  await knex.raw('ALTER TABLE device_tokens ADD CONSTRAINT device_tokens_token_unique UNIQUE (token)');
  await knex.schema.alterTable('device_tokens', (t) => {
    t.dropColumn('token_digest');
  });
  await knex.schema.alterTable('delivery_ledger', (t) => {
    t.dropColumn('recipient_sealed');
  });
}
