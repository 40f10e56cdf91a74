import { UserTokens } from '../../src/api/auth/user-tokens';

export type Json = Record<string, unknown>;

export interface JsonResponse {
  status: number;
  body: Json;
}

/**
 * A small JSON client for the HTTP API under test: `call(method, path, body?)`. A string body
 * is sent as is (to send malformed JSON); anything else as JSON. `headersFor(path)` adds
 * headers to each request, e.g. the credentials of `asPathUser`.
 */
export function jsonClient(
  baseUrl: () => string,
  headersFor: (path: string) => Record<string, string> = () => ({}),
): (method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown) => Promise<JsonResponse> {
  return async (method, path, body) => {
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headersFor(path) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json };
  };
}

/** A secret for the API's user tokens in tests (TIDINGS_USER_TOKEN_SECRET). */
export const TEST_USER_TOKEN_SECRET = 'test-user-token-secret-0123456789abcdef';

/** Headers proving the user a `/users/:userId/…` path names, as that user's app sends them. */
export function asPathUser(secret = TEST_USER_TOKEN_SECRET): (path: string) => Record<string, string> {
  const tokens = new UserTokens(secret);
  return (path): Record<string, string> => {
    const user = /^\/users\/([^/?]+)/.exec(path)?.[1];
    return user === undefined ? {} : { authorization: `Bearer ${tokens.issue(decodeURIComponent(user))}` };
  };
}
