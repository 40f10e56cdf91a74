import { z } from 'zod';
import { defaultInstanceId, durationMs, parseOptions, positiveInt } from '../config/options';
import type { ChannelSender } from '../notifications/channels/channel-sender';
import type { Logger } from '../observability/logger';
import { systemClock, type Clock } from './clock';

export const SCHEDULER_GROUP = 'tidings.scheduler';

/** Everything the scheduler can be given; every field is optional and documented with its default. */
export interface SchedulerOptions {
  /** Kafka consumer group. Default `tidings.scheduler`. */
  groupId?: string;
  /** The time every due decision reads. Default the system clock; tests inject a manual one. */
  clock?: Clock;
  /** Recorded on claimed rows. Default host:pid:random. */
  instanceId?: string;
  /**
   * How scheduled emails are sent. Default: the email channel from the environment (SMTP at
   * the platform's SMTP URL, then SMTP_BACKUP_URL), with failover and circuit breakers: the
   * same channel event notifications use.
   */
  email?: ChannelSender;
  /** Default a `scheduler` logger at LOG_LEVEL. */
  logger?: Logger;
  /** Email templates directory; default `TIDINGS_EMAIL_TEMPLATES`, else the bundled templates. */
  emailTemplatesDir?: string;
  /** Events per effects transaction of the consumer. Default and limits: the consumer runtime's (500). */
  chunkSize?: number;
  /** Delay of each retry tier of the consumer. Default and limits: the consumer runtime's (10 s, 1 min, 10 min, 1 h). */
  retryDelaysMs?: readonly number[];
  /** How long the broker waits for a silent instance. Default and limits: the consumer runtime's (30 s). */
  sessionTimeoutMs?: number;
  /** Backoff of the consumer and the dispatcher while PostgreSQL is unreachable. Default 200 ms doubling to 30 s. */
  outageBackoff?: { initialMs: number; maxMs: number };
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
  /** Delay before retrying after a retriable send failure: starts here, doubles per attempt (with jitter). Default 1 min. */
  retryDelayMs?: number;
  /** Ceiling of that delay. Default 1 h. */
  maxRetryDelayMs?: number;
}

const schema = z
  .object({
    groupId: z.string().min(1).default(SCHEDULER_GROUP),
    clock: z.custom<Clock>((v) => typeof (v as Partial<Clock> | null)?.now === 'function', { message: 'must be a Clock (an object with now())' }).default(systemClock),
    instanceId: z.string().min(1).default(defaultInstanceId),
    email: z.custom<ChannelSender>((v) => typeof (v as Partial<ChannelSender> | null)?.sendWithAttempts === 'function', { message: 'must be a ChannelSender (sendWithAttempts)' }).optional(),
    logger: z.custom<Logger>((v) => typeof (v as Partial<Logger> | null)?.child === 'function', { message: 'must be a pino logger' }).optional(),
    emailTemplatesDir: z.string().min(1).optional(),
    // Handed to the consumer runtime, whose own schema checks them (src/consumer/runtime-options.ts).
    chunkSize: z.number().optional(),
    retryDelaysMs: z.array(z.number()).readonly().optional(),
    sessionTimeoutMs: z.number().optional(),
    outageBackoff: z
      .object({ initialMs: durationMs, maxMs: durationMs })
      .refine((b) => b.maxMs >= b.initialMs, { message: 'must be at least initialMs', path: ['maxMs'] })
      .default({ initialMs: 200, maxMs: 30_000 }),
    reminderLeadDays: z.number().int().min(0).max(365).default(3),
    digestHour: z.number().int().min(0).max(23).default(8),
    pollIntervalMs: durationMs.default(1_000),
    batchSize: positiveInt.max(1_000).default(10),
    leaseMs: durationMs.default(5 * 60_000),
    maxAttempts: positiveInt.default(8),
    retryDelayMs: durationMs.default(60_000),
    maxRetryDelayMs: durationMs.default(60 * 60_000),
  })
  .strict()
  .refine((o) => o.maxRetryDelayMs >= o.retryDelayMs, { message: 'must be at least retryDelayMs', path: ['maxRetryDelayMs'] });

export type SchedulerSettings = z.infer<typeof schema>;

/** Applies the defaults; a bad value is refused with a ConfigError naming the option. */
export function schedulerSettings(input: SchedulerOptions): SchedulerSettings {
  return parseOptions('scheduler', schema, input);
}
