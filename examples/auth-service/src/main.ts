import knex from 'knex';
import { Platform, migrate } from 'tidings';
import { createApp } from './app.js';
import { createUsersTable } from './users.js';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a TCP port (got "${process.env.PORT}")`);
const host = process.env.HOST ?? '127.0.0.1';

// Kafka, registry and database from the environment (KAFKA_BROKERS, DATABASE_URL, …), validated by Tidings.
const platform = new Platform({ clientId: 'auth-service' });
const log = platform.logger.child({ service: 'auth-service' });
// The service's own pool on the same database as Tidings' tables, so one transaction covers both.
const db = knex({ client: 'pg', connection: platform.endpoints.databaseUrl, searchPath: ['public'] });

// Tidings' tables go to their own schema (TIDINGS_DB_SCHEMA, default "tidings"); ours stay in public.
const applied = await migrate(db, { schema: platform.endpoints.databaseSchema });
await createUsersTable(db);

const app = createApp({ db, outbox: platform.createOutbox(), appUrl: process.env.APP_URL ?? `http://localhost:${port}` });
const server = app.listen(port, host, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  log.info({ url: `http://${host}:${bound}`, tidingsMigrationsApplied: applied.length }, 'listening');
});

function shutdown(signal: NodeJS.Signals): void {
  log.info({ signal }, 'stopping');
  server.close(() => {
    void Promise.all([db.destroy(), platform.close()]).then(() => log.info('stopped'));
  });
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
