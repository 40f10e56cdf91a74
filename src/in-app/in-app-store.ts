import type { DataKeyStore } from '../crypto/data-key-store';
import { columnOpener, columnSealer, type ColumnSealer } from '../crypto/sealed-columns';
import type { Db, Trx } from '../db/database';
import { unnestInsert, type ColumnTypes } from '../db/unnest-insert';

export interface NewInAppNotification {
  userId: string;
  eventId: string;
  /** What it is about, e.g. the event type `PAYMENT_FAILED`. */
  kind: string;
  title: string;
  body: string;
  data?: Record<string, string>;
}

export interface InAppNotification extends Required<NewInAppNotification> {
  id: number;
  createdAt: Date;
  readAt: Date | null;
}

export interface ListOptions {
  /** At most this many, newest first. */
  limit: number;
  /** Only notifications with an id below this one (the last id of the previous page). */
  before?: number;
  unreadOnly?: boolean;
}

interface Row {
  id: string;
  user_id: string;
  event_id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, string>;
  created_at: Date;
  read_at: Date | null;
}

/**
 * The users' in-app notifications. `add` accepts the caller's transaction and is idempotent
 * per (event, user), so a redelivered event shows up once.
 *
 * With a key store, title and body (rendered with the user's name, amounts, places) are
 * stored sealed with the user's data key and opened when read; once the user is erased they
 * read as ERASED.
 */
export class InAppStore {
  constructor(
    private readonly db: Db,
    private readonly dataKeys?: DataKeyStore,
  ) {}

  /** Adds a notification; `created` is false when this event had already reached this user. */
  async add(trx: Trx | Db, notification: NewInAppNotification): Promise<{ notification: InAppNotification; created: boolean }> {
    const sealer = await columnSealer(this.dataKeys, [notification.userId]);
    const inserted = (await trx('in_app_notifications')
      .insert(rowOf(notification, sealer))
      .onConflict(['event_id', 'user_id'])
      .ignore()
      .returning('*')) as Row[];
    if (inserted[0]) return { notification: { ...toNotification(inserted[0]), title: notification.title, body: notification.body }, created: true };
    const existing = (await trx('in_app_notifications').where({ event_id: notification.eventId, user_id: notification.userId }).first()) as Row;
    return { notification: (await this.opened([existing]))[0] as InAppNotification, created: false };
  }

  /**
   * Adds many notifications in one statement (the caller's transaction); returns each one's
   * id in input order, the existing id where this event had already reached this user.
   */
  async addMany(trx: Trx | Db, notifications: readonly NewInAppNotification[]): Promise<number[]> {
    if (notifications.length === 0) return [];
    const keyOf = (eventId: string, userId: string): string => `${eventId}\u0000${userId}`;
    const sealer = await columnSealer(this.dataKeys, notifications.map((n) => n.userId));
    const inserted = await unnestInsert<NewRow, Pick<Row, 'id' | 'event_id' | 'user_id'>>(trx, 'in_app_notifications', NEW_ROW_COLUMNS, notifications.map((n) => rowOf(n, sealer)), {
      onConflict: ['event_id', 'user_id'],
      returning: ['id', 'event_id', 'user_id'],
    });
    const ids = new Map(inserted.map((r) => [keyOf(r.event_id, r.user_id), Number(r.id)]));
    const missing = notifications.filter((n) => !ids.has(keyOf(n.eventId, n.userId)));
    if (missing.length > 0) {
      const existing = (await trx('in_app_notifications')
        .whereIn(['event_id', 'user_id'], missing.map((n) => [n.eventId, n.userId]))
        .select('id', 'event_id', 'user_id')) as Array<Pick<Row, 'id' | 'event_id' | 'user_id'>>;
      for (const r of existing) ids.set(keyOf(r.event_id, r.user_id), Number(r.id));
    }
    return notifications.map((n) => ids.get(keyOf(n.eventId, n.userId)) ?? Number.NaN);
  }

  async list(userId: string, options: ListOptions): Promise<InAppNotification[]> {
    const query = this.db('in_app_notifications').where({ user_id: userId }).orderBy('id', 'desc').limit(options.limit);
    if (options.before !== undefined) query.where('id', '<', options.before);
    if (options.unreadOnly) query.whereNull('read_at');
    return this.opened((await query) as Row[]);
  }

  async unreadCount(userId: string): Promise<number> {
    const row = (await this.db('in_app_notifications').where({ user_id: userId }).whereNull('read_at').count('* as n').first()) as { n: string } | undefined;
    return Number(row?.n ?? 0);
  }

  /**
   * Marks the given notifications (or all) of this user read. Ids of other users and
   * notifications already read are left alone. Returns how many became read.
   */
  async markRead(userId: string, ids: readonly number[] | 'all'): Promise<number> {
    if (ids !== 'all' && ids.length === 0) return 0;
    const query = this.db('in_app_notifications').where({ user_id: userId }).whereNull('read_at');
    if (ids !== 'all') query.whereIn('id', ids);
    return query.update({ read_at: this.db.fn.now() });
  }

  private async opened(rows: Row[]): Promise<InAppNotification[]> {
    const opener = await columnOpener(this.dataKeys, rows.flatMap((r) => [r.title, r.body]));
    return rows.map((row) => ({ ...toNotification(row), title: opener.open(row.title), body: opener.open(row.body) }));
  }
}

type NewRow = Pick<Row, 'user_id' | 'event_id' | 'kind' | 'title' | 'body'> & { data: string };

const NEW_ROW_COLUMNS: ColumnTypes<NewRow> = { user_id: 'text', event_id: 'uuid', kind: 'text', title: 'text', body: 'text', data: 'jsonb' };

function rowOf(notification: NewInAppNotification, sealer: ColumnSealer): NewRow {
  return {
    user_id: notification.userId,
    event_id: notification.eventId,
    kind: notification.kind,
    title: sealer.seal(notification.userId, notification.title),
    body: sealer.seal(notification.userId, notification.body),
    data: JSON.stringify(notification.data ?? {}),
  };
}

function toNotification(row: Row): InAppNotification {
  return {
    id: Number(row.id),
    userId: row.user_id,
    eventId: row.event_id,
    kind: row.kind,
    title: row.title,
    body: row.body,
    data: row.data,
    createdAt: row.created_at,
    readAt: row.read_at,
  };
}
