import type { Request } from 'express';
import type { ClientContext } from 'tidings';

/** A request body the service refuses before touching the database (HTTP 400). */
export class BadRequestError extends Error {}

export interface SignupRequest {
  email: string;
  name: string;
  locale?: string;
}

function optionalString(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new BadRequestError(`"${name}" must be a non-empty string`);
  return value.trim();
}

function requiredString(fields: Record<string, unknown>, name: string): string {
  const value = optionalString(fields, name);
  if (value === undefined) throw new BadRequestError(`"${name}" is required`);
  return value;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Shapes are checked here; formats (email, locale) by the event contract when the event is enqueued. */
export function signupRequest(body: unknown): SignupRequest {
  const fields = objectBody(body);
  const locale = optionalString(fields, 'locale');
  return {
    email: requiredString(fields, 'email').toLowerCase(),
    name: requiredString(fields, 'name'),
    ...(locale === undefined ? {} : { locale }),
  };
}

export function passwordResetRequest(body: unknown): { email: string } {
  return { email: requiredString(objectBody(body), 'email').toLowerCase() };
}

/** The device and network a request came from, as the events carry it. */
export function clientOf(req: Request): ClientContext {
  return {
    ip: req.ip ?? req.socket.remoteAddress ?? '0.0.0.0',
    user_agent: req.get('user-agent') ?? 'unknown',
    location: null,
  };
}
