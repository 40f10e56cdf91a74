import type { Command } from 'commander';
import { resolveEndpoints } from '../../config/env';
import { createDb, ensureDatabase, migrate } from '../../db/database';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('create the database and the schema of Tidings\' tables if needed, and apply pending migrations')
    .option('--json', 'print the schema and the migrations applied as JSON')
    .addHelpText(
      'after',
      `
DATABASE_URL names the database; TIDINGS_DB_SCHEMA the schema of Tidings' tables (default "tidings").
Safe to run from several processes at once: one applies, the others wait and find nothing to do.

Examples:
  $ tidings migrate
  $ TIDINGS_DB_SCHEMA=acme_tidings tidings migrate --json`,
    )
    .action(async (options: { json?: boolean }) => {
      const { databaseUrl, databaseSchema: schema } = resolveEndpoints();
      await ensureDatabase(databaseUrl);
      const db = createDb(databaseUrl, { schema });
      try {
        const applied = await migrate(db, { schema });
        if (options.json) console.log(JSON.stringify({ schema, applied }));
        else console.log(applied.length ? `applied in schema "${schema}": ${applied.join(', ')}` : `schema "${schema}" is up to date`);
      } finally {
        await db.destroy();
      }
    });
}
