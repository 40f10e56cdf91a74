export type Json = Record<string, unknown>;

export interface JsonResponse {
  status: number;
  body: Json;
}

/**
 * A small JSON client for the HTTP API under test: `call(method, path, body?)`. A string body
 * is sent as is (to send malformed JSON); anything else as JSON.
 */
export function jsonClient(baseUrl: () => string): (method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown) => Promise<JsonResponse> {
  return async (method, path, body) => {
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json };
  };
}
