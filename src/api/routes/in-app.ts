import { z } from 'zod';
import { InAppStore } from '../../in-app/in-app-store';
import { route, type Route, type RouteDeps } from '../route';
import { beforeField, limitField, nextBefore, userParams } from './common';

const flag = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .optional()
  .transform((v) => v === 'true' || v === '1');

const markReadBody = z
  .object({
    ids: z.array(z.number({ error: 'must be a list of notification ids (positive integers)' }).int().positive()).min(1).max(1000).optional(),
    all: z.literal(true, { error: 'must be true' }).optional(),
  })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.all === undefined), { error: 'give either "ids": [...] or "all": true' });

/** A user's in-app inbox: list (newest first, paged), unread count, mark read. */
export function inAppRoutes({ db, platform, maxPageSize }: RouteDeps): Route[] {
  // Titles and bodies are stored sealed when the platform has users' data keys.
  const store = new InAppStore(db, platform?.dataKeys);
  const listQuery = z.object({ limit: limitField(maxPageSize), before: beforeField('a notification id'), unread: flag });
  return [
    route({
      method: 'get',
      path: '/users/:userId/notifications',
      operationId: 'listNotifications',
      tag: 'in-app',
      summary: "The user's in-app notifications, newest first",
      description: 'A full page has `nextBefore`: pass it back as `before` for the next one.',
      access: { kind: 'user' },
      params: userParams,
      query: listQuery,
      ok: '`{notifications: [...], nextBefore}`',
      async handle({ params: { userId }, query }) {
        const notifications = await store.list(userId, { limit: query.limit, before: query.before, unreadOnly: query.unread });
        return { body: { notifications, nextBefore: nextBefore(notifications, query.limit) } };
      },
    }),
    route({
      method: 'get',
      path: '/users/:userId/notifications/unread-count',
      operationId: 'countUnreadNotifications',
      tag: 'in-app',
      summary: "How many of the user's in-app notifications are unread",
      access: { kind: 'user' },
      params: userParams,
      ok: '`{userId, unread}`',
      async handle({ params: { userId } }) {
        return { body: { userId, unread: await store.unreadCount(userId) } };
      },
    }),
    route({
      method: 'post',
      path: '/users/:userId/notifications/read',
      operationId: 'markNotificationsRead',
      tag: 'in-app',
      summary: 'Marks some of the user\'s notifications read (`ids`), or all of them (`all: true`)',
      description: "Ids of another user's notifications are ignored.",
      access: { kind: 'user' },
      params: userParams,
      body: markReadBody,
      ok: '`{marked, unread}`',
      async handle({ params: { userId }, body }) {
        const marked = await store.markRead(userId, body.all ? 'all' : (body.ids ?? []));
        return { body: { marked, unread: await store.unreadCount(userId) } };
      },
    }),
  ];
}
