import { z } from 'zod';
import { listOperatorActions } from '../../ops/operator-actions';
import { route, type Route, type RouteDeps } from '../route';
import { limitField } from './common';

/** Admin: what operators did (keys created and revoked, redrives, replays, resets): who, what, on what, why, when. */
export function operatorActionRoutes({ db, maxPageSize }: RouteDeps): Route[] {
  return [
    route({
      method: 'get',
      path: '/admin/actions',
      operationId: 'listOperatorActions',
      tag: 'operator actions',
      summary: 'Operator actions, newest first',
      access: { kind: 'key', scope: 'read' },
      query: z.object({
        action: z.string().regex(/^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_-]*$/, { error: 'must be an action such as apikey.create or dlq.redrive' }).optional(),
        limit: limitField(maxPageSize),
      }),
      ok: '`{actions: [{id, at, actor, action, target, reason, details}]}`',
      async handle({ query }) {
        return { body: { actions: await listOperatorActions(db, { action: query.action, limit: query.limit }) } };
      },
    }),
  ];
}
