import { z } from 'zod';
import { ConfigError } from '../errors';
import { DEFAULT_TOPICS } from '../kafka/topics';

/** setTimeout's ceiling: a longer delay fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const positiveInt = z.number().int().positive();
export const timerMs = positiveInt.max(MAX_TIMER_MS);

/** Topic names per domain; the Publisher and the Outbox must agree on them. */
export const topicNamesSchema = z.object({ auth: z.string().min(1), payment: z.string().min(1) }).default(DEFAULT_TOPICS);

/** How often a producer re-reads partition counts and leaders. Default 10 s. */
export const metadataMaxAgeSchema = timerMs.default(10_000);

/** Applies a component's option defaults; a bad value is refused with a ConfigError naming the option. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, component: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')} ${i.message}` : i.message));
  throw new ConfigError(`invalid ${component} options: ${problems.join('; ')}`);
}
