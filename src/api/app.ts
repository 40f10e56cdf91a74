import express, { type ErrorRequestHandler, type Express } from 'express';
import type { Db } from '../db/database';
import { RequestValidationError, describe } from '../errors';
import { createLogger, type Logger } from '../observability/logger';
import type { Platform } from '../platform';
import { ApiKeys } from './auth/api-keys';
import { ApiAuthError, authorize, type AuthSettings } from './auth/authorize';
import { UserTokens } from './auth/user-tokens';
import type { Route } from './route';
import { dashboardRouter } from '../dashboard/dashboard';
import { apiRoutes } from './routes';
import { parseRequest } from './validation';

export interface ApiOptions {
  db: Db;
  /**
   * The secret of users' tokens (TIDINGS_USER_TOKEN_SECRET): `/users/:userId/…` then needs
   * the token of that user (or an API key with scope operate). `null` turns user
   * authentication off, for local demos only; admin endpoints need an API key either way.
   */
  userTokenSecret: string | null;
  /** Kafka and the schema registry: `/readyz` checks them too. */
  platform?: Platform;
  /** Largest page a list endpoint returns. Default 100. */
  maxPageSize?: number;
  logger?: Logger;
}

/**
 * The HTTP API, built from one route table (src/api/routes): end-user endpoints (in-app
 * inbox, preferences and quiet hours, push devices) authenticated per user, admin endpoints
 * under /admin authenticated by API keys with scopes, health and readiness, and the OpenAPI
 * document of all of them. A bad input gets a 400 naming the field.
 */
export function createApiApp(options: ApiOptions): Express {
  const logger = options.logger ?? createLogger('api');
  const auth: AuthSettings = { keys: new ApiKeys(options.db), userTokens: options.userTokenSecret === null ? null : new UserTokens(options.userTokenSecret) };
  const routes = apiRoutes({ db: options.db, platform: options.platform, logger, maxPageSize: options.maxPageSize ?? 100 });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));
  for (const route of routes) register(app, route, auth);
  app.use('/dashboard', dashboardRouter());

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'no such endpoint (GET /openapi.json lists them)' });
  });

  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    if (error instanceof ApiAuthError) {
      if (error.status === 401 || error.challenge.includes('insufficient_scope')) res.set('WWW-Authenticate', error.challenge);
      res.status(error.status).json({ error: error.status === 401 ? 'unauthorized' : 'forbidden', message: error.message });
      return;
    }
    if (error instanceof RequestValidationError) {
      res.status(400).json({ error: 'invalid_request', message: error.message, field: error.field, issues: error.issues });
      return;
    }
    if (isBodyParseError(error)) {
      res.status(400).json({ error: 'invalid_request', message: 'body: is not valid JSON', field: 'body' });
      return;
    }
    logger.error({ error: describe(error) }, 'request failed');
    res.status(500).json({ error: 'internal', message: 'the request could not be completed' });
  };
  app.use(onError);
  return app;
}

/** Registers one route: credentials first (so a stranger learns nothing from validation), then each part of the request, then the handler. */
function register(app: Express, route: Route, auth: AuthSettings): void {
  if (route.access.kind === 'user' && !route.path.includes('/:userId')) throw new Error(`${route.method.toUpperCase()} ${route.path}: a user route needs :userId in its path`);
  app[route.method](route.path, async (req, res) => {
    const principal = await authorize(route.access, req, auth);
    const params = route.params ? parseRequest(route.params, req.params, 'params') : undefined;
    const query = route.query ? parseRequest(route.query, req.query, 'query') : undefined;
    const body = route.body ? parseRequest(route.body, req.body, 'body') : undefined;
    const result = await route.handle({ params, query, body, principal });
    if (result.contentType !== undefined) res.status(result.status ?? 200).type(result.contentType).send(result.body);
    else res.status(result.status ?? 200).json(result.body);
  });
}

function isBodyParseError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { type?: unknown }).type === 'entity.parse.failed';
}
