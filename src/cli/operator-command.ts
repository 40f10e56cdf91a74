import type { Admin } from 'kafkajs';
import { Client } from 'pg';
import { readEnv, resolveEndpoints } from '../config/env';
import { isUndefinedTable, type Db } from '../db/database';
import { ConfigError, TidingsError, describe } from '../errors';
import { withAdmin } from '../ops/inspect/admin-session';
import { Platform } from '../platform';

/**
 * Exit codes of the operator commands (lag, groups, offsets, topics describe, outbox):
 * 0 done; 1 an error (bad option, unknown topic or group, unreachable broker or database);
 * 3 refused because of the cluster's state (an offset reset of a group that is running).
 */
export const EXIT_REFUSED = 3;

export const EXIT_CODES_HELP = `
Exit codes: 0 done, 1 error (bad option, unknown topic or group, broker or database unreachable).`;

export const RESET_EXIT_CODES_HELP = `
Exit codes: 0 done, 1 error (bad option, unknown topic or group, broker or database unreachable),
            ${EXIT_REFUSED} refused: the group is running (stop its consumers first; nothing was changed).`;

/** The platform of an operator command: `--topic-prefix` overrides TIDINGS_TOPIC_PREFIX. */
export function operatorPlatform(options: { topicPrefix?: string }, clientId: string): Platform {
  const env = readEnv(options.topicPrefix === undefined ? process.env : { ...process.env, TIDINGS_TOPIC_PREFIX: options.topicPrefix });
  return new Platform({ clientId, endpoints: resolveEndpoints(env) });
}

/** Runs `work` with a connected admin client (unreachable brokers reported within seconds) and closes everything after. */
export async function withOperatorAdmin<T>(platform: Platform, work: (admin: Admin) => Promise<T>): Promise<T> {
  try {
    return await withAdmin(platform.kafka, platform.endpoints.kafkaBrokers, work);
  } finally {
    await platform.close();
  }
}

/** A refusal that should exit with EXIT_REFUSED rather than 1: printed like any error, then the exit code set. */
export function exitRefused(error: TidingsError): void {
  process.stderr.write(`tidings: ${error.message}\n`);
  process.exitCode = EXIT_REFUSED;
}

/**
 * Runs `work` with the platform's database. A server that cannot be reached is reported at once
 * (one plain connection first, so the pool does not log every failed attempt), a missing table
 * as "run `tidings migrate`".
 */
export async function withOperatorDb<T>(platform: Platform, work: (db: Db) => Promise<T>): Promise<T> {
  const { databaseUrl, databaseSchema } = platform.endpoints;
  const probe = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
  } catch (error) {
    throw new ConfigError(`cannot reach PostgreSQL at ${new URL(databaseUrl).host} (from DATABASE_URL): ${describe(error)}; check DATABASE_URL and that PostgreSQL is running`, error);
  } finally {
    await probe.end().catch(() => undefined);
  }
  try {
    return await work(platform.db);
  } catch (error) {
    if (isUndefinedTable(error)) {
      const database = new URL(databaseUrl).pathname.slice(1);
      throw new ConfigError(`Tidings' tables are missing from schema "${databaseSchema}" of database "${database}": run \`tidings migrate\` with the same DATABASE_URL and TIDINGS_DB_SCHEMA`, error);
    }
    throw error;
  }
}
