import http from 'node:http';
import https from 'node:https';
import { RegistryError, describe } from '../errors';
import type { Logger } from '../observability/logger';
import { retry } from '../retry/retry';

/** Error codes of the Confluent REST API (Apicurio's ccompat API answers with the same). */
export const REGISTRY_ERROR_CODES = {
  subjectNotFound: 40401,
  versionNotFound: 40402,
  schemaNotFound: 40403,
  subjectSoftDeleted: 40404,
} as const;

/** A request the registry answered with an error status, or that never got an answer (`status` undefined). */
export class RegistryRequestError extends RegistryError {
  /** HTTP status; undefined when the registry was not reached or did not answer in time. */
  readonly status: number | undefined;
  /** The registry's `error_code` (e.g. 40403), when its answer had one. */
  readonly errorCode: number | undefined;

  constructor(what: string, failure: { status?: number; errorCode?: number; reason: string; retriable?: boolean }, cause?: unknown) {
    const status = failure.status;
    // Network failures, timeouts, 5xx and throttling may pass; any other answer will not change on retry.
    const retriable = failure.retriable ?? (status === undefined || status >= 500 || status === 429);
    const answer = status === undefined ? '' : ` (HTTP ${status}${failure.errorCode === undefined ? '' : `, error ${failure.errorCode}`})`;
    super(`${what} failed${answer}: ${failure.reason}`, { retriable, cause });
    this.status = status;
    this.errorCode = failure.errorCode;
  }
}

/**
 * The registry refused this client's credentials (HTTP 401) or what they may do (403). Not
 * retriable: only other credentials or grants help. The message names the settings to check,
 * never the secret.
 */
export class RegistryAuthError extends RegistryRequestError {
  override readonly code: string = 'REGISTRY_UNAUTHORIZED';
}

/** Whether `error` is the registry answering with one of its error `codes` (classified by code, never by message). */
export function isRegistryAnswer(error: unknown, ...codes: number[]): error is RegistryRequestError {
  return error instanceof RegistryRequestError && error.errorCode !== undefined && codes.includes(error.errorCode);
}

/** How Tidings proves who it is to the registry: basic auth, or a bearer token. */
export type RegistryCredentials = { username: string; password: string } | { token: string };

export interface RegistryHttpSettings {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  url: string;
  requestTimeoutMs: number;
  retry: { maxAttempts: number; initialMs: number; maxMs: number };
  logger: Logger;
  credentials?: RegistryCredentials;
  /** PEM CA(s) an https:// registry's certificate must chain to. Default: Node's bundled CAs. */
  ca?: Buffer;
}

/**
 * Node's codes for a server certificate that does not verify. Retrying cannot help, and the
 * fix is a setting (SCHEMA_REGISTRY_CA_FILE), so these are reported as such.
 */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface Answer {
  status: number;
  statusText: string;
  text: string;
}

/**
 * The few calls Tidings makes to a Confluent-compatible schema registry, over HTTP or HTTPS
 * (with basic auth or a bearer token, and a CA of its own when the registry's certificate is
 * not signed by a public one). node:http(s) rather than fetch: Node's fetch takes a custom CA
 * only through an undici dispatcher, which is not importable without adding `undici`. Every
 * call is idempotent (reads, registering a schema that may already be registered, setting a
 * subject's compatibility, deletes), so each is retried on transient failures.
 */
export class RegistryHttp {
  private readonly agent: http.Agent;
  private readonly send: typeof http.request;
  private readonly authorization: string | undefined;

  constructor(private readonly settings: RegistryHttpSettings) {
    const secure = new URL(settings.url).protocol === 'https:';
    // Keep-alive: a worker asks the registry once per schema id, often several at once.
    this.agent = secure ? new https.Agent({ keepAlive: true, ca: settings.ca }) : new http.Agent({ keepAlive: true });
    this.send = secure ? https.request : http.request;
    const credentials = settings.credentials;
    if (credentials === undefined) this.authorization = undefined;
    else if ('token' in credentials) this.authorization = `Bearer ${credentials.token}`;
    else this.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }

  /** `what` names the call in errors and logs; `path` is appended to the base URL. */
  call<T>(what: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const { maxAttempts, initialMs, maxMs } = this.settings.retry;
    return retry(() => this.once<T>(what, method, path, body), {
      what,
      maxAttempts,
      initialMs,
      maxMs,
      shouldRetry: (error) => error instanceof RegistryError && error.retriable,
      onRetry: (error, attempt, delayMs) => this.settings.logger.warn({ what, attempt, delayMs, err: describe(error) }, 'registry call failed; retrying'),
    });
  }

  private async once<T>(what: string, method: string, path: string, body: unknown): Promise<T> {
    let answer: Answer;
    try {
      answer = await this.exchange(method, `${this.settings.url}${path}`, body === undefined ? undefined : JSON.stringify(body));
    } catch (error) {
      throw this.unanswered(what, error);
    }
    const parsed = parseJson(answer.text);
    if (answer.status === 401 || answer.status === 403) throw new RegistryAuthError(what, { status: answer.status, reason: this.refusal(answer.status) });
    if (answer.status < 200 || answer.status >= 300) {
      const failure = (parsed ?? {}) as { message?: unknown; error_code?: unknown };
      throw new RegistryRequestError(what, {
        status: answer.status,
        errorCode: typeof failure.error_code === 'number' ? failure.error_code : undefined,
        reason: typeof failure.message === 'string' ? failure.message : answer.text.trim() || answer.statusText || 'no reason given',
      });
    }
    if (parsed === undefined) throw new RegistryRequestError(what, { status: answer.status, reason: `not a JSON answer: ${answer.text.slice(0, 200)}` });
    return parsed as T;
  }

  /** One request and its whole answer; the timeout covers reading the body too, so no request may hang. */
  private exchange(method: string, url: string, body: string | undefined): Promise<Answer> {
    const headers: Record<string, string> = {
      'content-type': 'application/vnd.schemaregistry.v1+json',
      accept: 'application/vnd.schemaregistry.v1+json, application/json',
    };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Answer>((resolve, reject) => {
      const request = this.send(url, { method, headers, agent: this.agent, signal: AbortSignal.timeout(this.settings.requestTimeoutMs) }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        // Closed before its end (the timeout, a reset): the settled promise ignores this then.
        response.on('close', () => {
          if (!response.complete) reject(new Error('the answer was cut off'));
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  /** A request that got no answer: a certificate that does not verify is a setting to fix (not retried), anything else may pass. */
  private unanswered(what: string, error: unknown): RegistryRequestError {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && UNTRUSTED_CERTIFICATE.has(code)) {
      const fix = this.settings.ca
        ? 'it is not signed by the CA in SCHEMA_REGISTRY_CA_FILE (or does not name this host): point SCHEMA_REGISTRY_CA_FILE at the CA that signed it'
        : "set SCHEMA_REGISTRY_CA_FILE to the PEM of the CA that signed it (Node's bundled CAs do not)";
      return new RegistryRequestError(`${what} at ${this.settings.url}`, { reason: `the registry's TLS certificate is not trusted (${code}): ${fix}`, retriable: false }, error);
    }
    return new RegistryRequestError(`${what} at ${this.settings.url}`, { reason: networkReason(error) }, error);
  }

  /** What a 401 or 403 means for the credentials this client has, naming the settings to check. */
  private refusal(status: number): string {
    const credentials = this.settings.credentials;
    if (credentials === undefined) {
      return `the registry at ${this.settings.url} requires credentials: set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, or SCHEMA_REGISTRY_TOKEN`;
    }
    const who = 'token' in credentials ? 'the bearer token (SCHEMA_REGISTRY_TOKEN)' : `user "${credentials.username}" (SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD)`;
    if (status === 403) return `the registry does not allow this to ${who}: grant it access, or use other credentials`;
    return 'token' in credentials
      ? 'the registry refused the bearer token: check SCHEMA_REGISTRY_TOKEN'
      : `the registry refused the password of user "${credentials.username}": check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD`;
  }
}

/** The socket or timeout error behind a request without an answer, with its code (ECONNREFUSED, ECONNRESET…). */
function networkReason(error: unknown): string {
  const { name, message, code, cause } = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown; cause?: { name?: unknown } };
  if (name === 'AbortError' || name === 'TimeoutError' || cause?.name === 'TimeoutError') return 'no answer in time (timeout)';
  return `${typeof message === 'string' ? message : String(error)}${typeof code === 'string' && !String(message).includes(code) ? ` (${code})` : ''}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
