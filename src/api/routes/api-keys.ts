import { z } from 'zod';
import { ApiKeyStateError, ApiKeys } from '../auth/api-keys';
import { actorOf, route, type Route, type RouteDeps } from '../route';

/** Admin: who holds API keys, and revoking one at once (a leaked key, someone leaving). Creating one is `tidings apikeys create`. */
export function apiKeyRoutes({ db }: RouteDeps): Route[] {
  const keys = new ApiKeys(db);
  return [
    route({
      method: 'get',
      path: '/admin/apikeys',
      operationId: 'listApiKeys',
      tag: 'api keys',
      summary: 'API keys, live and revoked (never a secret)',
      access: { kind: 'key', scope: 'admin' },
      ok: '`{keys: [{id, name, scope, createdAt, createdBy, lastUsedAt, revokedAt, revokedBy}]}`',
      handle: async () => ({ body: { keys: await keys.list() } }),
    }),
    route({
      method: 'post',
      path: '/admin/apikeys/:nameOrId/revoke',
      operationId: 'revokeApiKey',
      tag: 'api keys',
      summary: 'Revokes a live API key by name or id; recorded as an operator action by the calling key',
      access: { kind: 'key', scope: 'admin' },
      params: z.object({ nameOrId: z.string().min(1).max(64) }),
      body: z.object({ reason: z.string({ error: 'must be a text saying why' }).trim().min(1, { error: 'must not be empty' }).max(1000) }).strict(),
      ok: '`{key}`: the revoked key',
      otherResponses: { 404: 'No such key.', 409: 'The key was revoked already.' },
      async handle({ params: { nameOrId }, body: { reason }, principal }) {
        try {
          return { body: { key: await keys.revoke({ nameOrId, actor: actorOf(principal), reason }) } };
        } catch (error) {
          if (!(error instanceof ApiKeyStateError)) throw error;
          return error.state === 'not_found' ? { status: 404, body: { error: 'not_found', message: error.message } } : { status: 409, body: { error: 'already_revoked', message: error.message } };
        }
      },
    }),
  ];
}
