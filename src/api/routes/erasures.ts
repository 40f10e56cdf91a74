import { z } from 'zod';
import { eraseUser, keyShredder } from '../../compliance/erasure';
import { actorOf, route, type Route, type RouteDeps } from '../route';
import { userParams } from './common';

/** Admin: GDPR erasure of a user, the same as `tidings gdpr erase`. */
export function erasureRoutes({ db, platform }: RouteDeps): Route[] {
  return [
    route({
      method: 'post',
      path: '/admin/users/:userId/erasure',
      operationId: 'eraseUser',
      tag: 'compliance',
      summary:
        "Erases a user (GDPR): destroys their data key, so their personal fields in every topic, retry tier, DLQ and table become unreadable; deletes or anonymises their rows and cancels what is scheduled for them. Cannot be undone; recorded in erasures and as an operator action",
      access: { kind: 'key', scope: 'admin' },
      params: userParams,
      body: z.object({ reason: z.string({ error: 'must be a text saying why' }).trim().min(1, { error: 'must not be empty' }).max(1000).optional() }).strict(),
      ok: '`{erasure: {id, erasedAt, userId, actor, reason, destroyedKeyIds, rowCounts}}`',
      async handle({ params: { userId }, body: { reason }, principal }) {
        const erasure = await eraseUser({ db, keys: keyShredder(db, platform?.dataKeys) }, { userId, actor: actorOf(principal), reason });
        return { body: { erasure } };
      },
    }),
  ];
}
