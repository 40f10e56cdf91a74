import { z } from 'zod';

/** The PostgreSQL schema Tidings' tables live in unless TIDINGS_DB_SCHEMA (or a `schema` option) names another. */
export const DEFAULT_DB_SCHEMA = 'tidings';

/**
 * A schema name Tidings accepts: a plain lower-case identifier, so it needs no quoting and
 * means the same in SQL, in knex's `searchPath` and in `withSchema`. 63 bytes is PostgreSQL's limit.
 */
export const dbSchemaName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, { message: 'must be a plain identifier: lower-case letters, digits and _, not starting with a digit' })
  .max(63, { message: 'must be at most 63 characters (PostgreSQL truncates longer names)' });
