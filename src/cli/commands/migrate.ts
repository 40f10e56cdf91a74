import type { Command } from 'commander';
import { resolveEndpoints } from '../../config/env';
import { createDb, ensureDatabase, migrateLatest } from '../../db/database';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('create the database if needed and apply pending migrations')
    .action(async () => {
      const { databaseUrl } = resolveEndpoints();
      await ensureDatabase(databaseUrl);
      const db = createDb(databaseUrl);
      try {
        const applied = await migrateLatest(db);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await db.destroy();
      }
    });
}
