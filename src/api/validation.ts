import type { z } from 'zod';
import { RequestValidationError } from '../errors';

/**
 * Parses one part of a request (params, query or body) with its schema; a failure becomes a
 * RequestValidationError naming each bad field (`limit`, `ids.0`), or `body` for the whole body.
 */
export function parseRequest<T extends z.ZodType>(schema: T, value: unknown, part: 'params' | 'query' | 'body'): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new RequestValidationError(
    result.error.issues.map((issue) => ({
      field: issue.path.length > 0 ? issue.path.map(String).join('.') : part,
      message: issue.message,
    })),
  );
}
