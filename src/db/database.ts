import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { Client } from 'pg';
import { z } from 'zod';
import { parseOptions, positiveInt } from '../config/options';
import { ConfigError, describe } from '../errors';
import { DEFAULT_DB_SCHEMA, dbSchemaName } from './schema-name';

export type Db = Knex;
export type Trx = Knex.Transaction;

const MIGRATIONS_DIR = path.resolve(__dirname, '../../migrations');
/** knex's bookkeeping table (and `<name>_lock`), kept in Tidings' schema. */
const MIGRATIONS_TABLE = 'tidings_migrations';
// First key of the advisory lock that serialises migrate() runs on one schema (second: the schema's hashtext).
const MIGRATE_LOCK = 74_686_100;

export interface DbOptions {
  /** Connections in the pool. Default 10. */
  poolMax?: number;
  /** The schema of Tidings' tables, the connections' only search_path entry. Default `tidings`. */
  schema?: string;
}

const dbOptionsSchema = z.object({ poolMax: positiveInt.default(10), schema: dbSchemaName.default(DEFAULT_DB_SCHEMA) });

/** The schema each pool of createDb was made for, so migrateLatest(db) migrates that one. */
const poolSchemas = new WeakMap<Db, string>();

/** A pool for Tidings' own queries: unqualified table names resolve in Tidings' schema only. */
export function createDb(databaseUrl: string, options: DbOptions = {}): Db {
  const { poolMax, schema } = parseOptions('database', dbOptionsSchema, options);
  const db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: poolMax }, searchPath: [schema] });
  poolSchemas.set(db, schema);
  return db;
}

/** PostgreSQL's undefined_table (42P01): Tidings' tables are not in the schema yet (`tidings migrate`). */
export function isUndefinedTable(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '42P01';
}

/** Creates the database named in `databaseUrl` if the server does not have it yet. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new ConfigError(`DATABASE_URL names database "${name}": use letters, digits and _`);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString(), connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new ConfigError(`cannot reach PostgreSQL at ${url.host} (from DATABASE_URL): ${describe(error)}`, error);
  }
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount) return false;
    await client.query(`CREATE DATABASE "${name}"`);
    return true;
  } catch (error) {
    // Two processes creating it at once: the loser finds it there.
    if ((error as { code?: string }).code === '42P04') return false;
    throw error;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export interface MigrateOptions {
  /** The PostgreSQL schema for Tidings' tables; created if missing. Default `tidings` (TIDINGS_DB_SCHEMA for the CLI). */
  schema?: string;
}

const migrateOptionsSchema = z.object({ schema: dbSchemaName.default(DEFAULT_DB_SCHEMA) });

/**
 * Applies Tidings' pending migrations to `schema` and returns their names. `db` may be any
 * knex instance for the database, such as a service's own (whose search_path is its own
 * schema): everything runs in one transaction whose search_path is `schema` alone, so the
 * migrations create their tables there and the service's connections keep their settings.
 * knex's bookkeeping (`tidings_migrations` and its lock table) lives in `schema` too.
 *
 * Safe to run concurrently: an advisory lock makes a second run wait for the first (creating
 * the schema and knex's tables is not race-free by itself), and then find nothing to apply.
 * A migration that must run outside a transaction cannot be added as such.
 */
export async function migrate(db: Knex, options: MigrateOptions = {}): Promise<string[]> {
  const { schema } = parseOptions('migrate', migrateOptionsSchema, options);
  if (db.isTransaction) throw new ConfigError('migrate() takes a knex instance, not a transaction: it runs in a transaction of its own');
  // knex's migrator switches the identifier and response hooks off and on in its client's
  // config, which a transaction shares with its knex instance: it works on a copy, so the
  // caller's instance is never touched, and without the caller's hooks, so Tidings' tables
  // get the names its own queries use.
  const own = db.withUserParams({ ...db.userParams });
  Object.assign(own.client.config, { wrapIdentifier: undefined, postProcessResponse: undefined });
  return own.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [MIGRATE_LOCK, schema]);
    // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema is there.
    const existing = await trx.raw<{ rowCount: number }>('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema]);
    if (existing.rowCount === 0) await trx.raw('CREATE SCHEMA ??', [schema]);
    await trx.raw('SET LOCAL search_path TO ??', [schema]);
    // The settings are spelled out so a service's own `migrations` config (hooks, no transactions) does not apply.
    const [, applied] = (await trx.migrate.latest({
      migrationSource: new DirectoryMigrationSource(MIGRATIONS_DIR),
      tableName: MIGRATIONS_TABLE,
      schemaName: schema,
      disableTransactions: false,
      disableMigrationsListValidation: false,
      beforeAll: undefined,
      beforeEach: undefined,
      afterEach: undefined,
      afterAll: undefined,
    })) as [number, string[]];
    return applied;
  });
}

/** migrate() on the schema `db` was created for by createDb. */
export function migrateLatest(db: Db): Promise<string[]> {
  return migrate(db, { schema: poolSchemas.get(db) });
}

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Loads migrations with the running module loader (tsx, ts-jest or compiled JS) instead of
 * knex's own file import, so `.ts` migrations work the same everywhere.
 */
class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<string[]> {
    return fs
      .readdirSync(this.dir)
      .filter((f) => /^\d{3}_.+\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
      .sort();
  }

  getMigrationName(migration: string): string {
    return migration.replace(/\.(ts|js)$/, '');
  }

  async getMigration(migration: string): Promise<MigrationModule> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(path.join(this.dir, migration)) as MigrationModule;
  }
}
