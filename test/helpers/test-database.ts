import { randomBytes } from 'node:crypto';
import { resolveEndpoints } from '../../src/config/env';
import { createDb, dropDatabase, ensureDatabase, migrateLatest, type Db } from '../../src/db/database';

/** A fresh, empty PostgreSQL database on the local server; `dispose()` drops it. */
export async function createEmptyDatabase(): Promise<{ databaseUrl: string; dispose(): Promise<void> }> {
  const url = new URL(resolveEndpoints().databaseUrl);
  url.pathname = `/tidings_db${randomBytes(4).toString('hex')}`;
  const databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  return { databaseUrl, dispose: () => dropDatabase(databaseUrl) };
}

/** A fresh, migrated PostgreSQL database for a test file that needs no broker; `dispose()` drops it. */
export async function createTestDatabase(): Promise<{ db: Db; databaseUrl: string; dispose(): Promise<void> }> {
  const empty = await createEmptyDatabase();
  const db = createDb(empty.databaseUrl, { schema: resolveEndpoints().databaseSchema });
  await migrateLatest(db);
  return {
    db,
    databaseUrl: empty.databaseUrl,
    async dispose() {
      await db.destroy();
      await empty.dispose();
    },
  };
}
