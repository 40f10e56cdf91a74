import { z } from 'zod';

/** A path id: a user, payment or similar. */
export const id = z.string().min(1).max(256);
export const userParams = z.object({ userId: id });

/** `limit` of a list endpoint: 1 to `max`, default 20. */
export function limitField(max: number): z.ZodDefault<z.ZodCoercedNumber> {
  const message = `must be an integer from 1 to ${max}`;
  return z.coerce.number({ error: message }).int({ error: message }).min(1, { error: message }).max(max, { error: message }).default(20);
}

/** `before` of a list endpoint: the cursor the previous page returned as `nextBefore` (a row id). */
export function beforeField(what: string): z.ZodOptional<z.ZodCoercedNumber> {
  return z.coerce.number({ error: `must be ${what}` }).int({ error: `must be ${what}` }).positive({ error: `must be ${what}` }).optional();
}

/** The cursor for the page after `rows`: a full page may have more behind it. */
export function nextBefore(rows: ReadonlyArray<{ id: number | string }>, limit: number): number | null {
  return rows.length === limit ? Number(rows[rows.length - 1]?.id ?? 0) || null : null;
}

/** An enum's error naming what is allowed: `unknown category "x" (one of billing, marketing, security)`. */
export const oneOf = (what: string, known: readonly string[]) => (issue: { input?: unknown }) => `unknown ${what} "${String(issue.input)}" (one of ${known.join(', ')})`;
