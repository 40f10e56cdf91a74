import type { Command } from 'commander';
import { parsePort } from '../parse-options';
import { startApiServer, type ApiServer } from '../../api/server';
import { readEnv, resolveEndpoints } from '../../config/env';
import { isUndefinedTable } from '../../db/database';
import { ConfigError } from '../../errors';
import { createLogger, type Logger } from '../../observability/logger';
import { Platform } from '../../platform';

interface ApiCommandOptions {
  port: string;
  host: string;
  insecureNoUserAuth?: boolean;
}

export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description('serve the HTTP API until SIGTERM/SIGINT: end-user endpoints (in-app inbox, preferences and quiet hours, push devices) with per-user tokens, admin endpoints with API keys, /healthz, /readyz, /metrics (Prometheus) and /openapi.json')
    .option('--port <port>', 'TCP port to listen on', '3000')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--insecure-no-user-auth', 'serve /users/:userId/… to anyone, without user tokens (a local demo only; admin endpoints still need an API key)')
    .addHelpText(
      'after',
      `
Authentication:
  /users/:userId/…  the user's token, "Authorization: Bearer <userId>.<hmac>" or "X-Tidings-User-Token: <userId>.<hmac>",
                    hmac = hex HMAC-SHA256 of the user id with TIDINGS_USER_TOKEN_SECRET (required); or an API key with scope operate
  /admin/…          "Authorization: Bearer tdk_…", an API key from \`tidings apikeys create\` (scopes read < operate < admin)
  /healthz, /readyz, /metrics, /openapi.json   no authentication (/metrics: process metrics and the outbox backlog)

Examples:
  $ export TIDINGS_USER_TOKEN_SECRET=$(openssl rand -hex 32)
  $ tidings api --port 3000 --host 0.0.0.0
  $ curl -H "Authorization: Bearer $(tidings apikeys user-token u-42)" localhost:3000/users/u-42/notifications
  $ curl -H "Authorization: Bearer $KEY" localhost:3000/admin/users/u-42/deliveries
  $ tidings api --insecure-no-user-auth          local demo without user tokens`,
    )
    .action(async (options: ApiCommandOptions) => {
      const port = parsePort(options.port);
      const logger = createLogger('api');
      const env = readEnv();
      const userTokenSecret = env.TIDINGS_USER_TOKEN_SECRET ?? null;
      if (userTokenSecret === null && !options.insecureNoUserAuth) {
        throw new ConfigError(
          "TIDINGS_USER_TOKEN_SECRET is not set: the end-user endpoints check each user's token with it. Set it to a random secret of at least 32 characters (`openssl rand -hex 32`), shared with the service that hands tokens to your users' apps; or pass --insecure-no-user-auth for a local demo",
        );
      }
      if (userTokenSecret === null) logger.warn('user authentication is OFF (--insecure-no-user-auth): anyone can read and change any user\'s inbox, preferences and devices');
      const platform = new Platform({ clientId: 'tidings-api', endpoints: resolveEndpoints(env), logger });
      const api = await serve(platform, { port, host: options.host, userTokenSecret, logger }).catch(async (error: unknown) => {
        await platform.close();
        throw error;
      });
      logger.info({ url: api.url, userAuth: userTokenSecret !== null }, 'serving the API');
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string): void => {
          logger.info({ signal }, 'stopping');
          void api
            .close()
            .then(() => platform.close())
            .finally(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}

/** Checks the API keys table is there (a hint when it has no key yet), then listens. */
async function serve(platform: Platform, options: { port: number; host: string; userTokenSecret: string | null; logger: Logger }): Promise<ApiServer> {
  const { logger } = options;
  const live = (await platform.db('api_keys').whereNull('revoked_at').count({ n: '*' }).first().catch((error: unknown) => {
    if (isUndefinedTable(error)) throw new ConfigError('the api_keys table is missing: run `tidings migrate` first', error);
    throw error;
  })) as { n: string | number } | undefined;
  if (Number(live?.n ?? 0) === 0) logger.warn('no API keys yet: the admin endpoints refuse every request until `tidings apikeys create --scope read --name <name>` makes one');
  return startApiServer({ ...options, db: platform.db, platform });
}
