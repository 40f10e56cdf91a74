import { z } from 'zod';
import { CHANNELS } from '../../notifications/channels/channel';
import { DELIVERY_STATUSES, deliveriesOfUser } from '../delivery-history';
import { route, type Route, type RouteDeps } from '../route';
import { beforeField, limitField, nextBefore, oneOf, userParams } from './common';

/** Admin: a user's delivery history from the ledger, with each provider attempt. */
export function deliveryRoutes({ db, platform, maxPageSize }: RouteDeps): Route[] {
  const query = z.object({
    limit: limitField(maxPageSize),
    before: beforeField('a delivery id'),
    status: z.enum(DELIVERY_STATUSES, { error: oneOf('status', DELIVERY_STATUSES) }).optional(),
    channel: z.enum(CHANNELS as [string, ...string[]], { error: oneOf('channel', CHANNELS) }).optional(),
    eventType: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, { error: 'must be an event type such as PAYMENT_SUCCEEDED' }).optional(),
  });
  return [
    route({
      method: 'get',
      path: '/admin/users/:userId/deliveries',
      operationId: 'listUserDeliveries',
      tag: 'deliveries',
      summary: "The user's deliveries (ledger rows: event, channel, recipient, status), newest first, each with its provider attempts",
      description: 'Filter by `status`, `channel` and `eventType`; a full page has `nextBefore`: pass it back as `before` for the next one.',
      access: { kind: 'key', scope: 'read' },
      params: userParams,
      query,
      ok: '`{userId, deliveries: [{id, eventId, eventType, channel, recipient, status, reason, provider, providerMessageId, error, attempts, templateVersion, notBefore, createdAt, updatedAt, history: [{provider, status, error, latencyMs, attemptedAt}]}], nextBefore}`',
      async handle({ params: { userId }, query: filter }) {
        const deliveries = await deliveriesOfUser(db, userId, filter, platform?.dataKeys);
        return { body: { userId, deliveries, nextBefore: nextBefore(deliveries, filter.limit) } };
      },
    }),
  ];
}
