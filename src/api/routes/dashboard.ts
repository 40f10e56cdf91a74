import { z } from 'zod';
import { recentDeliveries, throughputByGroup } from '../../ops/activity';
import { route, type Route, type RouteDeps } from '../route';
import { limitField } from './common';

/** Admin: what the dashboard shows besides lag, dead letters and replay jobs. */
export function dashboardRoutes({ db, maxPageSize }: RouteDeps): Route[] {
  return [
    route({
      method: 'get',
      path: '/admin/whoami',
      operationId: 'whoAmI',
      tag: 'dashboard',
      summary: 'The API key this request was made with: its name and scope (the dashboard logs in with it)',
      access: { kind: 'key', scope: 'read' },
      ok: '`{id, name, scope}`',
      async handle({ principal }) {
        if (principal.kind !== 'key') throw new Error('an admin route authenticated without a key');
        return { body: { id: principal.key.id, name: principal.key.name, scope: principal.key.scope } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/throughput',
      operationId: 'throughput',
      tag: 'dashboard',
      summary: 'Events each consumer group processed in the last minute and the last 15 minutes (from its inbox)',
      access: { kind: 'key', scope: 'read' },
      ok: '`{groups: [{group, lastMinute, last15Minutes}]}`',
      async handle() {
        return { body: { groups: await throughputByGroup(db) } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/deliveries',
      operationId: 'recentDeliveries',
      tag: 'dashboard',
      summary: 'The deliveries last changed, newest first, without recipients’ addresses',
      access: { kind: 'key', scope: 'read' },
      query: z.object({ limit: limitField(maxPageSize) }),
      ok: '`{deliveries: [{id, at, userId, eventType, channel, status, detail}]}`',
      async handle({ query }) {
        return { body: { deliveries: await recentDeliveries(db, query.limit) } };
      },
    }),
  ];
}
