import { z } from 'zod';
import type { Db } from '../db/database';
import { createLogger, type Logger } from '../observability/logger';
import { rateLimitSuppressed } from '../observability/metrics';
import { CHANNELS, type ChannelName } from './channels/channel';
import { parseOptions } from '../config/options';

/**
 * Per user and channel limits (e.g. at most 5 SMS per hour), counted in PostgreSQL so every
 * instance of the group shares them, in fixed windows.
 *
 * Sends are counted, not attempts: the count and the ledger row's `rate_limit` column are
 * written in one statement, and only while that column is still empty, so retries of one
 * (event, channel, recipient) — failed attempts, a redelivered event, another instance that
 * took the row over — take the limit once.
 *
 * Overflow policy:
 * - an optional message over the limit is not sent; its ledger row says `suppressed` with
 *   reason `rate_limited`;
 * - a mandatory message (security alerts, billing: `mandatory` in routing.ts) is exempt: it
 *   is sent anyway and its ledger row says `rate_limit = 'exempt'`. It is not deferred,
 *   because a security alert or a payment notice that arrives after the window (up to an
 *   hour later) has lost its point, and deferring a burst only moves it to the next window.
 *   Mandatory messages sent within the limit are counted, so they use up the allowance of
 *   optional ones.
 */
const limitSchema = z.object({ max: z.number().int().positive(), windowMs: z.number().int().min(1_000).max(31 * 24 * 3_600_000) });
const limitsSchema = z.partialRecord(z.enum(CHANNELS as [ChannelName, ...ChannelName[]]), limitSchema);

export type RateLimits = z.infer<typeof limitsSchema>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  sms: { max: 5, windowMs: 3_600_000 },
  push: { max: 20, windowMs: 3_600_000 },
};

export interface RateLimiterOptions {
  db: Db;
  /** Default DEFAULT_RATE_LIMITS (SMS 5 an hour, push 20 an hour); a channel left out has no limit. */
  limits?: RateLimits;
  logger?: Logger;
}

/** What the limit said about one ledger row. `lost`: the row's claim is gone; do not send. */
export type RateDecision = 'counted' | 'exempt' | 'limited' | 'lost';

export class RateLimiter {
  private readonly db: Db;
  private readonly limits: RateLimits;
  private readonly logger: Logger;

  constructor(options: RateLimiterOptions) {
    this.db = options.db;
    this.limits = parseOptions('rate limiter', z.object({ limits: limitsSchema }), { limits: options.limits ?? DEFAULT_RATE_LIMITS }).limits;
    this.logger = options.logger ?? createLogger('rate-limiter');
  }

  /** The limit of a channel, if it has one. */
  limitOf(channel: ChannelName): { max: number; windowMs: number } | undefined {
    return this.limits[channel];
  }

  /**
   * Takes one slot of the limit for the claimed ledger row `rowId` (held by `claimToken`) and
   * records on the row that it did, atomically; `counted` also when the channel has no limit.
   */
  async take(row: { id: string; userId: string; channel: ChannelName; mandatory: boolean }, claimToken: string, now: Date): Promise<RateDecision> {
    const limit = this.limits[row.channel];
    if (!limit) return 'counted';
    const windowStart = new Date(Math.floor(now.getTime() / limit.windowMs) * limit.windowMs);
    const result = await this.db.raw<{ rows: Array<{ counted: boolean; marked: string | null }> }>(
      `WITH target AS (
         SELECT id FROM delivery_ledger WHERE id = ? AND claim_token = ? AND status = 'sending' AND rate_limit IS NULL
       ), counted AS (
         INSERT INTO rate_limit_counters AS c (user_id, channel, window_start, count)
         SELECT ?, ?, ?, 1 FROM target
         ON CONFLICT (user_id, channel, window_start) DO UPDATE SET count = c.count + 1 WHERE c.count < ?
         RETURNING 1
       ), marked AS (
         UPDATE delivery_ledger l
         SET rate_limit = CASE WHEN EXISTS (SELECT 1 FROM counted) THEN 'counted' WHEN ?::boolean THEN 'exempt' END
         FROM target WHERE l.id = target.id
         RETURNING l.rate_limit
       )
       SELECT EXISTS (SELECT 1 FROM target) AS held, (SELECT rate_limit FROM marked) AS marked`,
      [row.id, claimToken, row.userId, row.channel, windowStart, limit.max, row.mandatory],
    );
    const first = result.rows[0] as { held: boolean; marked: 'counted' | 'exempt' | null } | undefined;
    if (!first?.held) return 'lost';
    if (first.marked === 'exempt') this.logger.info({ rowId: row.id, channel: row.channel }, 'rate limit met; mandatory message sent anyway (exempt)');
    if (first.marked === null) rateLimitSuppressed.inc({ channel: row.channel });
    return first.marked ?? 'limited';
  }
}
