import type { Db } from '../db/database';
import type { ChannelName } from './channels/channel';

/**
 * Per user and channel limits (e.g. at most 5 SMS per hour), counted in PostgreSQL so every
 * instance of the group shares them: one atomic upsert per message, fixed windows.
 *
 * Overflow policy: a message over the limit is not sent; its ledger row says `suppressed`
 * with reason `rate_limited`. Mandatory (security, legal) notifications are not limited.
 */
export type RateLimits = Partial<Record<ChannelName, { max: number; windowMs: number }>>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  sms: { max: 5, windowMs: 3_600_000 },
  push: { max: 20, windowMs: 3_600_000 },
};

export class RateLimiter {
  constructor(
    private readonly db: Db,
    private readonly limits: RateLimits = DEFAULT_RATE_LIMITS,
  ) {}

  /** The limit of a channel, if it has one. */
  limitOf(channel: ChannelName): { max: number; windowMs: number } | undefined {
    return this.limits[channel];
  }

  /** Counts one message; false when it would exceed the limit (and then it is not counted). */
  async take(userId: string, channel: ChannelName, now: Date): Promise<boolean> {
    const limit = this.limits[channel];
    if (!limit) return true;
    const windowStart = new Date(Math.floor(now.getTime() / limit.windowMs) * limit.windowMs);
    const result = await this.db.raw<{ rows: Array<{ count: number }> }>(
      `INSERT INTO rate_limit_counters AS c (user_id, channel, window_start, count) VALUES (?, ?, ?, 1)
       ON CONFLICT (user_id, channel, window_start) DO UPDATE SET count = c.count + 1 WHERE c.count < ?
       RETURNING c.count`,
      [userId, channel, windowStart, limit.max],
    );
    return result.rows.length > 0;
  }
}
