import { z } from 'zod';
import { ConfigError } from '../errors';

/** What the scheduler's behaviour can be tuned by; every field is optional and documented with its default. */
export interface SchedulerSettingsInput {
  /** A renewal reminder goes out this many days before the renewal. Default 3. */
  reminderLeadDays?: number;
  /** Local hour (0–23, in each user's time zone) at which the previous day's digest goes out. Default 8. */
  digestHour?: number;
  /** The dispatcher looks for due work at least this often. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Reminders or digests claimed per database transaction. Default 10. */
  batchSize?: number;
  /** How long a claim is held before another instance may take the row over (the claimer is presumed dead). Default 5 min. */
  leaseMs?: number;
  /** Attempts per reminder or digest before it is marked failed. Default 8. */
  maxAttempts?: number;
  /** Delay before retrying after a retriable send failure: starts here, doubles per attempt. Default 1 min. */
  retryDelayMs?: number;
  /** Ceiling of that delay. Default 1 h. */
  maxRetryDelayMs?: number;
  /** Backoff of the dispatcher loop while PostgreSQL is unreachable. Default 200 ms doubling to 30 s. */
  outageBackoff?: { initialMs: number; maxMs: number };
}

const positiveInt = z.number().int().positive();
const settingsSchema = z.object({
  reminderLeadDays: z.number().int().min(0).max(365).default(3),
  digestHour: z.number().int().min(0).max(23).default(8),
  pollIntervalMs: positiveInt.default(1_000),
  batchSize: positiveInt.max(1_000).default(10),
  leaseMs: positiveInt.default(5 * 60_000),
  maxAttempts: positiveInt.default(8),
  retryDelayMs: positiveInt.default(60_000),
  maxRetryDelayMs: positiveInt.default(60 * 60_000),
  outageBackoff: z.object({ initialMs: positiveInt, maxMs: positiveInt }).default({ initialMs: 200, maxMs: 30_000 }),
});

export type SchedulerSettings = z.infer<typeof settingsSchema>;

/** Applies the defaults; a bad value is reported by field name. */
export function schedulerSettings(input: SchedulerSettingsInput): SchedulerSettings {
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    throw new ConfigError(`invalid scheduler options: ${problems.join('; ')}`);
  }
  return parsed.data;
}
