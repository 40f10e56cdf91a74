import { z } from 'zod';
import { API_KEY_SCOPES } from './auth/scopes';
import { ACT_FOR_USERS_SCOPE } from './auth/authorize';
import type { Route } from './route';

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = Record<string, unknown> & { openapi: string; paths: Record<string, Record<string, unknown>> };

/** `/users/:userId/devices/:token` → `/users/{userId}/devices/{token}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** A request schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect), as a client must send it. */
function jsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

const ERROR = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string): Record<string, unknown> => ({ description, content: { 'application/json': { schema: ERROR } } });

/** Each property of an object schema as an OpenAPI parameter `in` the path or the query. */
function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function security(route: Route): Array<Record<string, string[]>> {
  switch (route.access.kind) {
    case 'public':
      return [];
    case 'key':
      return [{ apiKey: [route.access.scope] }];
    case 'user':
      return [{ userToken: [] }, { userTokenHeader: [] }, { apiKey: [ACT_FOR_USERS_SCOPE] }];
  }
}

function accessNote(route: Route): string {
  switch (route.access.kind) {
    case 'public':
      return 'No authentication.';
    case 'key':
      return `Needs an API key with scope \`${route.access.scope}\` or higher.`;
    case 'user':
      return `Needs the token of the user in the path, or an API key with scope \`${ACT_FOR_USERS_SCOPE}\` or higher.`;
  }
}

function operation(route: Route): Record<string, unknown> {
  const ok = route.okContentType === undefined ? { 'application/json': { schema: { type: 'object' } } } : { [route.okContentType]: { schema: { type: 'string' } } };
  const responses: Record<string, unknown> = { '200': { description: route.ok, content: ok } };
  if (route.params || route.query || route.body) responses['400'] = errorResponse('A parameter, query field or body field is invalid; `field` names it.');
  if (route.access.kind !== 'public') {
    responses['401'] = errorResponse('No credential, or one that is not valid (unknown, revoked or malformed); `WWW-Authenticate` says which.');
    responses['403'] = errorResponse(route.access.kind === 'user' ? "A valid credential that may not act on this user (another user's token, or an API key of too low a scope)." : 'A valid API key of too low a scope.');
  }
  for (const [status, description] of Object.entries(route.otherResponses ?? {})) responses[status] = errorResponse(description);
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: [route.description, accessNote(route)].filter(Boolean).join('\n\n'),
    tags: [route.tag],
    security: security(route),
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } } : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of `routes`, built from the same schemas that validate their requests. */
export function buildOpenApiDocument(routes: readonly Route[], info: { version: string }): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = (paths[openApiPath(route.path)] ??= {});
    path[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tidings API',
      version: info.version,
      description: `End-user endpoints (\`/users/{userId}/…\`) take the user's token; admin endpoints (\`/admin/…\`) take an API key with a scope (${API_KEY_SCOPES.join(' < ')}; each includes the ones before it).`,
    },
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'tdk_<id>_<secret>', description: 'An API key from `tidings apikeys create --scope read|operate|admin --name <name>`.' },
        userToken: { type: 'http', scheme: 'bearer', bearerFormat: '<userId>.<hmac>', description: 'The user id, a dot, and the hex HMAC-SHA256 of the user id under TIDINGS_USER_TOKEN_SECRET.' },
        userTokenHeader: { type: 'apiKey', in: 'header', name: 'X-Tidings-User-Token', description: 'The same user token in a header of its own.' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: { type: 'string', description: 'A stable code: invalid_request, unauthorized, forbidden, not_found, …' },
            message: { type: 'string' },
            field: { type: 'string', description: 'The first invalid field (400 only).' },
            issues: { type: 'array', items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
  };
}
