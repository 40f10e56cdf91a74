import type { Knex } from 'knex';

/** A row of the service's own `users` table (in its schema, `public`, apart from Tidings' tables). */
export interface UserRow {
  id: string;
  email: string;
  name: string;
  locale: string | null;
  password_reset_token_hash: string | null;
  password_reset_expires_at: Date | null;
  created_at: Date;
}

/** The service's own migration: small enough to be idempotent DDL run at start-up. */
export async function createUsersTable(db: Knex): Promise<void> {
  await db.raw(`
    CREATE TABLE IF NOT EXISTS users (
      id text PRIMARY KEY,
      email text NOT NULL UNIQUE,
      name text NOT NULL,
      locale text,
      password_reset_token_hash text,
      password_reset_expires_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
}
