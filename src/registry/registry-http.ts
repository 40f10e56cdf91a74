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

  constructor(what: string, failure: { status?: number; errorCode?: number; reason: string }, cause?: unknown) {
    const status = failure.status;
    // Network failures, timeouts, 5xx and throttling may pass; any other answer will not change on retry.
    const retriable = status === undefined || status >= 500 || status === 429;
    const answer = status === undefined ? '' : ` (HTTP ${status}${failure.errorCode === undefined ? '' : `, error ${failure.errorCode}`})`;
    super(`${what} failed${answer}: ${failure.reason}`, { retriable, cause });
    this.status = status;
    this.errorCode = failure.errorCode;
  }
}

/** Whether `error` is the registry answering with one of its error `codes` (classified by code, never by message). */
export function isRegistryAnswer(error: unknown, ...codes: number[]): error is RegistryRequestError {
  return error instanceof RegistryRequestError && error.errorCode !== undefined && codes.includes(error.errorCode);
}

export interface RegistryHttpSettings {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  url: string;
  requestTimeoutMs: number;
  retry: { maxAttempts: number; initialMs: number; maxMs: number };
  logger: Logger;
}

/**
 * The few calls Tidings makes to a Confluent-compatible schema registry, as plain HTTP. Every
 * call it makes is idempotent (reads, registering a schema that may already be registered,
 * setting a subject's compatibility, deletes), so each is retried on transient failures.
 */
export class RegistryHttp {
  constructor(private readonly settings: RegistryHttpSettings) {}

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
    let response: Response;
    let text: string;
    try {
      // The timeout covers reading the body too: no request may hang.
      response = await fetch(`${this.settings.url}${path}`, {
        method,
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', accept: 'application/vnd.schemaregistry.v1+json, application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.settings.requestTimeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new RegistryRequestError(`${what} at ${this.settings.url}`, { reason: networkReason(error) }, error);
    }
    const parsed = parseJson(text);
    if (!response.ok) {
      const answer = (parsed ?? {}) as { message?: unknown; error_code?: unknown };
      throw new RegistryRequestError(what, {
        status: response.status,
        errorCode: typeof answer.error_code === 'number' ? answer.error_code : undefined,
        reason: typeof answer.message === 'string' ? answer.message : text.trim() || response.statusText || 'no reason given',
      });
    }
    if (parsed === undefined) throw new RegistryRequestError(what, { status: response.status, reason: `not a JSON answer: ${text.slice(0, 200)}` });
    return parsed as T;
  }
}

/** fetch hides the socket error (ECONNREFUSED, ECONNRESET…) in its cause; duck-typed, as fetch's errors may come from another realm. */
function networkReason(error: unknown): string {
  const { message, cause } = (error ?? {}) as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const detail = cause?.code ?? cause?.message;
  return `${typeof message === 'string' ? message : String(error)}${detail === undefined ? '' : ` (${String(detail)})`}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
