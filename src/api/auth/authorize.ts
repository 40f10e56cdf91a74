import type { Request } from 'express';
import { TidingsError } from '../../errors';
import type { Access, Principal } from '../route';
import { ApiKeys, looksLikeApiKey } from './api-keys';
import { scopeAllows } from './scopes';
import type { UserTokens } from './user-tokens';

/** The header an app may send its user token in, instead of `Authorization: Bearer`. */
export const USER_TOKEN_HEADER = 'x-tidings-user-token';

/** The scope an API key needs to act on any user's end-user endpoints. */
export const ACT_FOR_USERS_SCOPE = 'operate';

/** A request refused for its credentials: 401 (none, or not valid) or 403 (valid, not allowed here). */
export class ApiAuthError extends TidingsError {
  readonly status: 401 | 403;
  /** The `WWW-Authenticate` challenge (RFC 6750). */
  readonly challenge: string;

  constructor(status: 401 | 403, message: string, challenge: { error?: 'invalid_token' | 'insufficient_scope'; scope?: string } = {}) {
    super(status === 401 ? 'AUTH_REQUIRED' : 'AUTH_FORBIDDEN', message);
    this.status = status;
    const parts = ['realm="tidings"', challenge.error && `error="${challenge.error}"`, challenge.scope && `scope="${challenge.scope}"`].filter(Boolean);
    this.challenge = `Bearer ${parts.join(', ')}`;
  }
}

export interface AuthSettings {
  keys: ApiKeys;
  /** Checks users' tokens; null switches user authentication off (`--insecure-no-user-auth`, local demos only). */
  userTokens: UserTokens | null;
}

/** Who the request is, as `access` requires; throws ApiAuthError when it is not allowed. */
export async function authorize(access: Access, req: Request, settings: AuthSettings): Promise<Principal> {
  if (access.kind === 'public') return { kind: 'anonymous' };
  const bearer = bearerOf(req);
  if (access.kind === 'key') {
    if (bearer === undefined) throw new ApiAuthError(401, 'this endpoint needs an API key: send "Authorization: Bearer tdk_…" (`tidings apikeys create` makes one)');
    return keyPrincipal(bearer, access.scope, settings, 'this endpoint');
  }
  // A user route: an operator's key, or the user's own token.
  if (bearer !== undefined && looksLikeApiKey(bearer)) return keyPrincipal(bearer, ACT_FOR_USERS_SCOPE, settings, "another user's data");
  if (settings.userTokens === null) return { kind: 'anonymous' };
  const token = bearer ?? headerOf(req, USER_TOKEN_HEADER);
  if (token === undefined) {
    throw new ApiAuthError(401, 'this endpoint needs the user\'s token: send "Authorization: Bearer <userId>.<hmac>" or "X-Tidings-User-Token: <userId>.<hmac>"');
  }
  const proven = settings.userTokens.verify(token);
  if (proven === undefined) throw new ApiAuthError(401, 'the user token is not valid: it must be <userId>.<hex HMAC-SHA256 of the user id with the server secret>', { error: 'invalid_token' });
  if (proven !== req.params.userId) throw new ApiAuthError(403, 'the user token is for another user: a user can read and change only their own data');
  return { kind: 'user', userId: proven };
}

async function keyPrincipal(credential: string, scope: 'read' | 'operate' | 'admin', settings: AuthSettings, what: string): Promise<Principal> {
  const key = looksLikeApiKey(credential) ? await settings.keys.verify(credential) : undefined;
  if (key === undefined) throw new ApiAuthError(401, 'the API key is unknown, revoked or malformed', { error: 'invalid_token' });
  if (!scopeAllows(key.scope, scope)) {
    throw new ApiAuthError(403, `${what} needs an API key with scope "${scope}" or higher; key "${key.name}" has "${key.scope}"`, { error: 'insufficient_scope', scope });
  }
  return { kind: 'key', key };
}

function bearerOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  // Any other scheme (Basic…) counts as a credential that is not valid here.
  return match ? match[1] : '';
}

function headerOf(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
