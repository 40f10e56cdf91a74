import type { Db, Trx } from '../../db/database';
import type { DeadRecipients } from './failover';

export const DEVICE_PLATFORMS = ['android', 'ios', 'web'] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

export interface DeviceToken {
  userId: string;
  token: string;
  platform: DevicePlatform;
  createdAt: Date;
  lastSeenAt: Date;
  deadAt: Date | null;
  deadReason: string | null;
}

interface Row {
  user_id: string;
  token: string;
  platform: DevicePlatform;
  created_at: Date;
  last_seen_at: Date;
  dead_at: Date | null;
  dead_reason: string | null;
}

/**
 * Push registration tokens per user (table device_tokens). A token the push service calls
 * unregistered is marked dead and stays dead: FCM never hands the same token out again, so a
 * client re-registering it is stale and sending to it would only fail again.
 */
export class DeviceTokens implements DeadRecipients {
  constructor(private readonly db: Db) {}

  /**
   * Records that `token` belongs to `userId` now (a token moves with its device's sign-in).
   * Pass the caller's transaction to register atomically with other rows.
   */
  async register(userId: string, token: string, platform: DevicePlatform, trx?: Trx): Promise<DeviceToken> {
    // An upsert with merge returns its row whether it inserted or updated.
    const [row] = (await (trx ?? this.db)('device_tokens')
      .insert({ user_id: userId, token, platform })
      .onConflict('token')
      .merge({ user_id: userId, platform, last_seen_at: this.db.fn.now() })
      .returning('*')) as [Row];
    return fromRow(row);
  }

  /** The user's tokens that may still receive pushes, most recently seen first. */
  async activeTokens(userId: string): Promise<DeviceToken[]> {
    const rows = (await this.db('device_tokens').where({ user_id: userId }).whereNull('dead_at').orderBy('last_seen_at', 'desc')) as Row[];
    return rows.map(fromRow);
  }

  /** All of the user's tokens, live and dead, most recently seen first. */
  async list(userId: string): Promise<DeviceToken[]> {
    const rows = (await this.db('device_tokens').where({ user_id: userId }).orderBy('last_seen_at', 'desc')) as Row[];
    return rows.map(fromRow);
  }

  /** Forgets the user's token (the app signed out); false if the user had no such token. */
  async remove(userId: string, token: string): Promise<boolean> {
    return (await this.db('device_tokens').where({ user_id: userId, token }).delete()) > 0;
  }

  async markDead(token: string, reason: string): Promise<void> {
    // The first reason is kept: it is the one that explains why pushes stopped.
    await this.db('device_tokens').where({ token }).whereNull('dead_at').update({ dead_at: this.db.fn.now(), dead_reason: reason });
  }

  async isDead(token: string): Promise<boolean> {
    const row = (await this.db('device_tokens').where({ token }).whereNotNull('dead_at').first('token')) as Pick<Row, 'token'> | undefined;
    return row !== undefined;
  }

  async find(token: string): Promise<DeviceToken | undefined> {
    const row = (await this.db('device_tokens').where({ token }).first()) as Row | undefined;
    return row && fromRow(row);
  }
}

function fromRow(row: Row): DeviceToken {
  return {
    userId: row.user_id,
    token: row.token,
    platform: row.platform,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    deadAt: row.dead_at,
    deadReason: row.dead_reason,
  };
}
