import { z } from 'zod';
import { durationMs, parseOptions } from '../config/options';
import { parseDuration } from '../config/duration';
import type { Env } from '../config/env';
import { DEFAULT_RATE_LIMITS } from '../notifications/rate-limiter';

const DAY = 86_400_000;

/** How long each operational table keeps its rows; every field is optional and documented with its default. */
export interface RetentionOptionsInput {
  /**
   * Inbox rows (consumer group + event id), from processing. Default 30 d. Must outlive the
   * source topics' retention plus the retry tiers (checked at start-up), or a redelivered
   * record would no longer be recognised.
   */
  inboxMs?: number;
  /** Prune the inbox at `inboxMs` even where the source topics keep records longer: a replay of an older record is processed again. Default false. */
  forceInbox?: boolean;
  /** Finished ledger rows (`sent`, `failed`, `suppressed`), from their last update. Default 30 d. */
  ledgerMs?: number;
  /** Provider attempts of finished ledger rows, from the attempt. Default 30 d. */
  attemptsMs?: number;
  /** Rate-limit counters, from the start of their window; at least the longest window. Default 1 d. */
  rateLimitCountersMs?: number;
  /** Published outbox rows, from publication. Default 1 d. */
  outboxMs?: number;
  /** How often each `tidings run` worker prunes. Default 10 min. */
  intervalMs?: number;
  /** Rows per DELETE statement, so no statement holds many row locks for long. Default 1000. */
  batchSize?: number;
  /** The longest rate-limit window in use. Default the longest of the default limits (1 h). */
  longestRateLimitWindowMs?: number;
}

/** The environment variable behind each option, for messages an operator can act on. */
export const RETENTION_ENV: Record<keyof Omit<RetentionOptionsInput, 'longestRateLimitWindowMs'>, string> = {
  inboxMs: 'TIDINGS_RETENTION_INBOX',
  forceInbox: 'TIDINGS_RETENTION_INBOX_FORCE',
  ledgerMs: 'TIDINGS_RETENTION_LEDGER',
  attemptsMs: 'TIDINGS_RETENTION_ATTEMPTS',
  rateLimitCountersMs: 'TIDINGS_RETENTION_RATE_LIMITS',
  outboxMs: 'TIDINGS_RETENTION_OUTBOX',
  intervalMs: 'TIDINGS_PRUNE_INTERVAL',
  batchSize: 'TIDINGS_PRUNE_BATCH',
};

const duration = z.number().int().positive();
const longestWindow = Math.max(...Object.values(DEFAULT_RATE_LIMITS).map((limit) => limit?.windowMs ?? 0));
const settingsSchema = z
  .object({
    inboxMs: duration.default(30 * DAY),
    forceInbox: z.boolean().default(false),
    ledgerMs: duration.default(30 * DAY),
    attemptsMs: duration.default(30 * DAY),
    rateLimitCountersMs: duration.default(DAY),
    outboxMs: duration.default(DAY),
    intervalMs: durationMs.default(10 * 60_000),
    batchSize: z.number().int().min(1).max(100_000).default(1_000),
    longestRateLimitWindowMs: duration.default(longestWindow),
  })
  // A counter of a window still open is live state: pruning it would reset the user's count.
  .superRefine((s, context) => {
    if (s.rateLimitCountersMs < s.longestRateLimitWindowMs) {
      context.addIssue({ code: 'custom', path: ['rateLimitCountersMs'], message: `must be at least the longest rate-limit window (${formatDuration(s.longestRateLimitWindowMs)})` });
    }
  });

export type RetentionSettings = z.infer<typeof settingsSchema>;

/** Applies the defaults; a bad value is reported by option and environment variable name. */
export function retentionSettings(input: RetentionOptionsInput = {}): RetentionSettings {
  return parseOptions('retention', settingsSchema, input, (field) => {
    const env = RETENTION_ENV[field as keyof typeof RETENTION_ENV];
    return env ? `${field} (${env})` : field;
  });
}

/** The retention options set in the environment (durations such as `30d`, `12h`); unset ones keep their defaults. */
export function retentionOptionsFromEnv(env: Env): RetentionOptionsInput {
  const ms = (name: string, value: string | undefined): number | undefined => (value === undefined ? undefined : parseDuration(value, name));
  const options: RetentionOptionsInput = {
    inboxMs: ms(RETENTION_ENV.inboxMs, env.TIDINGS_RETENTION_INBOX),
    forceInbox: env.TIDINGS_RETENTION_INBOX_FORCE,
    ledgerMs: ms(RETENTION_ENV.ledgerMs, env.TIDINGS_RETENTION_LEDGER),
    attemptsMs: ms(RETENTION_ENV.attemptsMs, env.TIDINGS_RETENTION_ATTEMPTS),
    rateLimitCountersMs: ms(RETENTION_ENV.rateLimitCountersMs, env.TIDINGS_RETENTION_RATE_LIMITS),
    outboxMs: ms(RETENTION_ENV.outboxMs, env.TIDINGS_RETENTION_OUTBOX),
    intervalMs: ms(RETENTION_ENV.intervalMs, env.TIDINGS_PRUNE_INTERVAL),
    batchSize: env.TIDINGS_PRUNE_BATCH,
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as RetentionOptionsInput;
}

/** `90061000` → `1d1h1m1s`: durations in messages, in the units the settings take. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['d', DAY], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}ms`);
  return parts.join('');
}
