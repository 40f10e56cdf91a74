import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError } from '../errors';

/**
 * What every component's options schema is built from: each component keeps one zod schema
 * with its defaults and validates it at construction through `parseOptions`.
 */

/** The longest delay `setTimeout` honours (2^31-1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const positiveInt = z.number().int().positive();

/** A duration in ms that a timer will wait for: positive and within setTimeout's ceiling. */
export const durationMs = positiveInt.max(MAX_TIMER_MS, { error: `must be at most ${MAX_TIMER_MS} ms (about 24.8 days): a longer delay overflows setTimeout` });

/**
 * Applies a component's defaults; a bad value is refused with a ConfigError naming the option:
 * `invalid publisher options: maxQueuedEvents Too small: expected number to be >0`.
 * `label` may add to an option's name (e.g. the environment variable that sets it).
 */
export function parseOptions<S extends z.ZodType>(component: string, schema: S, input: unknown, label: (path: string) => string = (path) => path): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => (i.path.length > 0 ? `${label(i.path.join('.'))} ${i.message}` : i.message));
  throw new ConfigError(`invalid ${component} options: ${problems.join('; ')}`);
}

/** Names this process where it claims work (ledger rows, scheduled jobs): host, pid and a random suffix. */
export function defaultInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
