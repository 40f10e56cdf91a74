import { createHash } from 'node:crypto';
import type { DataKeyStore } from '../../crypto/data-key-store';
import { columnOpener, columnSealer } from '../../crypto/sealed-columns';
import type { Db, Trx } from '../../db/database';
import type { DeadRecipients } from './failover';

export const DEVICE_PLATFORMS = ['android', 'ios', 'web'] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

export interface DeviceToken {
  userId: string;
  /** The token; ERASED when its user was erased. */
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
 * How a token is found: the SHA-256 of it. A push token is a long random secret of the push
 * service, so its hash tells nothing about it, and it stays one lookup across every user.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Push registration tokens per user (table device_tokens). A token the push service calls
 * unregistered is marked dead and stays dead: FCM never hands the same token out again, so a
 * client re-registering it is stale and sending to it would only fail again.
 *
 * Tokens are found by their digest; with a key store the token itself is stored sealed with
 * its user's data key (migration 082).
 */
export class DeviceTokens implements DeadRecipients {
  constructor(
    private readonly db: Db,
    private readonly dataKeys?: DataKeyStore,
  ) {}

  /**
   * Records that `token` belongs to `userId` now (a token moves with its device's sign-in).
   * Pass the caller's transaction to register atomically with other rows.
   */
  async register(userId: string, token: string, platform: DevicePlatform, trx?: Trx): Promise<DeviceToken> {
    const sealed = (await columnSealer(this.dataKeys, [userId])).seal(userId, token);
    // An upsert with merge returns its row whether it inserted or updated; a moved token is sealed with its new user's key.
    const [row] = (await (trx ?? this.db)('device_tokens')
      .insert({ user_id: userId, token: sealed, token_digest: tokenDigest(token), platform })
      .onConflict('token_digest')
      .merge({ user_id: userId, token: sealed, platform, last_seen_at: this.db.fn.now() })
      .returning('*')) as [Row];
    return { ...fromRow(row), token };
  }

  /** The user's tokens that may still receive pushes, most recently seen first. */
  async activeTokens(userId: string): Promise<DeviceToken[]> {
    return this.opened((await this.db('device_tokens').where({ user_id: userId }).whereNull('dead_at').orderBy('last_seen_at', 'desc')) as Row[]);
  }

  /** All of the user's tokens, live and dead, most recently seen first. */
  async list(userId: string): Promise<DeviceToken[]> {
    return this.opened((await this.db('device_tokens').where({ user_id: userId }).orderBy('last_seen_at', 'desc')) as Row[]);
  }

  /** The user who holds `token` now, if anyone does; in `trx`, locked until it ends. */
  async holder(token: string, trx: Trx): Promise<string | undefined> {
    const row = (await trx('device_tokens').where({ token_digest: tokenDigest(token) }).forUpdate().first('user_id')) as Pick<Row, 'user_id'> | undefined;
    return row?.user_id;
  }

  /** Forgets the user's token (the app signed out); false if the user had no such token. */
  async remove(userId: string, token: string): Promise<boolean> {
    return (await this.db('device_tokens').where({ user_id: userId, token_digest: tokenDigest(token) }).delete()) > 0;
  }

  async markDead(token: string, reason: string): Promise<void> {
    // The first reason is kept: it is the one that explains why pushes stopped.
    await this.db('device_tokens').where({ token_digest: tokenDigest(token) }).whereNull('dead_at').update({ dead_at: this.db.fn.now(), dead_reason: reason });
  }

  async isDead(token: string): Promise<boolean> {
    const row = (await this.db('device_tokens').where({ token_digest: tokenDigest(token) }).whereNotNull('dead_at').first('user_id')) as Pick<Row, 'user_id'> | undefined;
    return row !== undefined;
  }

  async find(token: string): Promise<DeviceToken | undefined> {
    const row = (await this.db('device_tokens').where({ token_digest: tokenDigest(token) }).first()) as Row | undefined;
    return row && { ...fromRow(row), token };
  }

  private async opened(rows: Row[]): Promise<DeviceToken[]> {
    const opener = await columnOpener(this.dataKeys, rows.map((r) => r.token));
    return rows.map((row) => ({ ...fromRow(row), token: opener.open(row.token) }));
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
