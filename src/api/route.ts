import type { z } from 'zod';
import type { Db } from '../db/database';
import type { Logger } from '../observability/logger';
import type { Platform } from '../platform';
import type { ApiKeyInfo } from './auth/api-keys';
import type { ApiKeyScope } from './auth/scopes';

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

/**
 * Who may call a route:
 * - `public`: anyone (health, readiness, the OpenAPI document);
 * - `user`: the user named by the path's `:userId`, proven by their token, or an API key with
 *   scope `operate` acting for any user;
 * - `key`: an API key with at least `scope`.
 */
export type Access = { kind: 'public' } | { kind: 'user' } | { kind: 'key'; scope: ApiKeyScope };

/** Who a request was authenticated as. `anonymous`: a public route, or a user route while user auth is off. */
export type Principal = { kind: 'key'; key: ApiKeyInfo } | { kind: 'user'; userId: string } | { kind: 'anonymous' };

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
}

export interface RouteResult {
  /** Default 200. */
  status?: number;
  body: unknown;
  /** Sends `body` (a string) as is with this type instead of as JSON, e.g. Prometheus text. */
  contentType?: string;
}

type ObjectSchema = z.ZodObject | undefined;

/**
 * One endpoint, described once: the schemas here both validate its requests (a bad part is a
 * 400 naming the field) and document it in /openapi.json, so the two cannot drift apart.
 */
export interface RouteSpec<P extends ObjectSchema, Q extends ObjectSchema, B extends z.ZodType | undefined> {
  method: HttpMethod;
  /** Express syntax, e.g. `/users/:userId/devices/:token`; every `:name` is a key of `params`. */
  path: string;
  /** Unique, stable name of the operation in the OpenAPI document. */
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** What a successful answer holds (documented as the 200 response). */
  ok: string;
  /** Media type of the 200 response when it is not JSON (the handler's result gives the same `contentType`). */
  okContentType?: string;
  /** Other answers this route gives besides 200, 400, 401, 403 and 500, e.g. `{ 404: 'no such payment' }`. */
  otherResponses?: Record<number, string>;
  handle(input: RouteInput<Parsed<P>, Parsed<Q>, Parsed<B>>): Promise<RouteResult>;
}

/** A route with its types erased, as the app and the document builder see it. */
export type Route = Omit<RouteSpec<ObjectSchema, ObjectSchema, z.ZodType | undefined>, 'handle'> & {
  handle(input: RouteInput<unknown, unknown, unknown>): Promise<RouteResult>;
};

/** Declares a route; the handler's input is typed from the schemas. */
export function route<P extends ObjectSchema = undefined, Q extends ObjectSchema = undefined, B extends z.ZodType | undefined = undefined>(spec: RouteSpec<P, Q, B>): Route {
  return spec as unknown as Route;
}

/** What route modules are built with. */
export interface RouteDeps {
  db: Db;
  logger: Logger;
  /** Kafka and the schema registry (for readiness, and for endpoints that read or write topics); absent when the API runs on PostgreSQL alone. */
  platform?: Platform;
  /** Largest page a list endpoint returns. */
  maxPageSize: number;
}

/** Who an operator action done through the API is recorded as: `apikey:<name>`, `user:<id>` or `anonymous`. */
export function actorOf(principal: Principal): string {
  switch (principal.kind) {
    case 'key':
      return `apikey:${principal.key.name}`;
    case 'user':
      return `user:${principal.userId}`;
    case 'anonymous':
      return 'anonymous';
  }
}
