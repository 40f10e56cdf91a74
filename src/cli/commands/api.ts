import type { Command } from 'commander';
import { parsePort } from '../parse-options';
import { startApiServer } from '../../api/server';
import { resolveEndpoints } from '../../config/env';
import { createDb } from '../../db/database';
import { createLogger } from '../../observability/logger';

interface ApiCommandOptions {
  port: string;
  host: string;
}

export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description('serve the HTTP API (in-app notifications, preferences and quiet hours, push devices, legal records, /healthz) until SIGTERM/SIGINT')
    .option('--port <port>', 'TCP port to listen on', '3000')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .addHelpText('after', '\nExample:\n  $ tidings api --port 3000 --host 0.0.0.0')
    .action(async (options: ApiCommandOptions) => {
      const port = parsePort(options.port);
      const logger = createLogger('api');
      const { databaseUrl, databaseSchema } = resolveEndpoints();
      const db = createDb(databaseUrl, { schema: databaseSchema });
      const api = await startApiServer({ db, port, host: options.host, logger });
      logger.info({ url: api.url }, 'serving the API');
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string): void => {
          logger.info({ signal }, 'stopping');
          void api
            .close()
            .then(() => db.destroy())
            .finally(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}
