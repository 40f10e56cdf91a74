/** Admin API key scopes, weakest first: each one allows everything the ones before it do. */
export const API_KEY_SCOPES = ['read', 'operate', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** Whether a key of scope `held` may call an endpoint that needs `needed` (admin ⊃ operate ⊃ read). */
export function scopeAllows(held: ApiKeyScope, needed: ApiKeyScope): boolean {
  return API_KEY_SCOPES.indexOf(held) >= API_KEY_SCOPES.indexOf(needed);
}
