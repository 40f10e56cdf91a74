import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../package-root';
import { buildOpenApiDocument, type OpenApiDocument } from '../openapi';
import { route, type Route, type RouteDeps } from '../route';
import { apiKeyRoutes } from './api-keys';
import { dashboardRoutes } from './dashboard';
import { deliveryRoutes } from './deliveries';
import { deviceRoutes } from './devices';
import { erasureRoutes } from './erasures';
import { healthRoutes } from './health';
import { inAppRoutes } from './in-app';
import { metricsRoutes } from './metrics';
import { operationsRoutes } from './operations';
import { operatorActionRoutes } from './operator-actions';
import { preferenceRoutes } from './preferences';
import { receiptRoutes } from './receipts';
import { replayRoutes } from './replays';

/**
 * Every endpoint of the API, in one table: the app registers these and /openapi.json
 * documents the same list. A new group of endpoints (the DLQ's, replay jobs') is one more
 * line here: `...dlqRoutes(deps),` with routes declared by `route({...})`.
 */
export function apiRoutes(deps: RouteDeps): Route[] {
  const routes = [
    ...healthRoutes(deps),
    ...metricsRoutes(deps),
    ...inAppRoutes(deps),
    ...preferenceRoutes(deps),
    ...deviceRoutes(deps),
    ...deliveryRoutes(deps),
    ...receiptRoutes(deps),
    ...operatorActionRoutes(deps),
    ...apiKeyRoutes(deps),
    ...dashboardRoutes(deps),
    ...operationsRoutes(deps),
    ...replayRoutes(deps),
    ...erasureRoutes(deps),
  ];
  let document: OpenApiDocument | undefined;
  const all: Route[] = [
    ...routes,
    route({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openApiDocument',
      tag: 'health',
      summary: 'This OpenAPI 3.1 document, generated from the schemas that validate the requests',
      access: { kind: 'public' },
      ok: 'The OpenAPI 3.1 document',
      handle: async () => ({ body: (document ??= buildOpenApiDocument(all, { version: packageVersion() })) }),
    }),
  ];
  return all;
}

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
