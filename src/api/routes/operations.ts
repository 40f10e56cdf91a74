import { z } from 'zod';
import { TidingsError } from '../../errors';
import type { Platform } from '../../platform';
import { DeadLetterNotFoundError, DeadLetterStateError } from '../../ops/dlq/dead-letter-errors';
import { DEAD_LETTER_STATES, listDeadLetters } from '../../ops/dlq/dead-letter-store';
import { discardDeadLetters } from '../../ops/dlq/discard';
import { inspectDeadLetter } from '../../ops/dlq/inspect';
import { DeadLetterRedriver } from '../../ops/dlq/redrive';
import { withAdmin } from '../../ops/inspect/admin-session';
import { lagReport } from '../../ops/inspect/consumer-lag';
import { actorOf, route, type Route, type RouteDeps, type RouteResult } from '../route';
import { id, limitField, oneOf } from './common';

const deadLetterParams = z.object({ id: z.string().regex(/^\d{1,18}$/, { error: 'must be a dead letter id (digits)' }) });
const time = z.coerce.date({ error: 'must be an ISO-8601 time' });

/** A dead letter that does not exist is a 404; one whose state forbids the action, a 409. */
async function answering(work: () => Promise<RouteResult>): Promise<RouteResult> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DeadLetterNotFoundError) return { status: 404, body: { error: 'not_found', message: error.message } };
    if (error instanceof DeadLetterStateError) return { status: 409, body: { error: 'conflict', message: error.message, state: error.deadLetter.state } };
    throw error;
  }
}

function needPlatform(platform: Platform | undefined, what: string): Platform {
  if (!platform) throw new TidingsError('KAFKA_NOT_CONFIGURED', `${what} needs Kafka: this API runs on PostgreSQL alone`);
  return platform;
}

/**
 * Admin: what an on-call engineer looks at and does — consumer lag with retry tiers and DLQ
 * depth, and the dead letters (browse, inspect with personal data masked, redrive, discard).
 * The same functions back `tidings lag` and `tidings dlq …`.
 */
export function operationsRoutes({ db, platform, maxPageSize }: RouteDeps): Route[] {
  return [
    route({
      method: 'get',
      path: '/admin/lag',
      operationId: 'consumerLag',
      tag: 'operations',
      summary: 'Lag of every consumer group per topic and partition, its retry tiers and its DLQ depth',
      access: { kind: 'key', scope: 'read' },
      query: z.object({ group: id.optional() }),
      ok: '`{groups: [{group, state, members, lag, partitions: [{topic, role, partition, committed, end, lag}]}], depths: [{topic, kind, depth}], totals}`',
      async handle({ query }) {
        const { kafka, endpoints } = needPlatform(platform, 'consumer lag');
        const report = await withAdmin(kafka, endpoints.kafkaBrokers, (admin) => lagReport(admin, { groupId: query.group }));
        const groups = report.groups.map((g) => ({
          group: g.groupId,
          state: g.state,
          members: g.members,
          lag: g.totals.lag,
          partitions: g.topics.filter((t) => t.role === 'source').flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, role: t.role, partition: p.partition, committed: p.committed, end: p.end, lag: p.lag }))),
        }));
        const depths = report.groups.flatMap((g) => [
          ...g.topics.filter((t) => t.role === 'retry').map((t) => ({ topic: t.topic, kind: `retry tier ${t.tier ?? ''}`.trim(), depth: t.lag })),
          ...g.deadLetters.map((d) => ({ topic: d.topic, kind: 'dlq', depth: d.depth })),
        ]);
        return { body: { groups, depths, totals: report.totals } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/dlq',
      operationId: 'listDeadLetters',
      tag: 'dead letters',
      summary: 'Dead letters from the index, newest first, filtered',
      access: { kind: 'key', scope: 'read' },
      query: z.object({
        topic: id.optional(),
        group: id.optional(),
        errorClass: id.optional(),
        type: id.optional(),
        user: id.optional(),
        from: time.optional(),
        to: time.optional(),
        state: z.enum(DEAD_LETTER_STATES, { error: oneOf('state', DEAD_LETTER_STATES) }).optional(),
        limit: limitField(maxPageSize),
      }),
      ok: '`{deadLetters: [{id, deadLetteredAt, group, eventType, userId, errorClass, errorMessage, state, …}]}`',
      async handle({ query }) {
        const rows = await listDeadLetters(
          db,
          { topic: query.topic, group: query.group, errorClass: query.errorClass, eventType: query.type, userId: query.user, fromMs: query.from?.getTime(), toMs: query.to?.getTime(), state: query.state },
          query.limit,
        );
        return { body: { deadLetters: rows.map((d) => ({ ...d, group: d.consumerGroup })) } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/dlq/:id',
      operationId: 'inspectDeadLetter',
      tag: 'dead letters',
      summary: 'One dead letter: its index row, headers and decoded payload, personal fields masked as the schema marks them',
      access: { kind: 'key', scope: 'read' },
      params: deadLetterParams,
      ok: '`{deadLetter, key, headers, payload, maskedFields, schemaId, undecodable}`',
      otherResponses: { 404: 'No such dead letter, or its record is no longer in Kafka.' },
      handle: ({ params }) =>
        answering(async () => {
          const { kafka, registry, dataKeys } = needPlatform(platform, 'inspecting a dead letter');
          return { body: await inspectDeadLetter({ db, kafka, registry, dataKeys }, params.id) };
        }),
    }),
    route({
      method: 'post',
      path: '/admin/dlq/:id/redrive',
      operationId: 'redriveDeadLetter',
      tag: 'dead letters',
      summary: "Sends a dead letter back to its group's first retry tier (or to its original topic); refused if it was redriven already, unless `again`",
      access: { kind: 'key', scope: 'operate' },
      params: deadLetterParams,
      body: z.object({ toOrigin: z.boolean({ error: 'must be true or false' }).optional(), again: z.boolean({ error: 'must be true or false' }).optional(), reason: z.string().max(1000).optional() }).strict(),
      ok: '`{id, to, partition, offset, reopenedDeliveries}`',
      otherResponses: { 404: 'No such dead letter.', 409: 'Redriven or discarded already.' },
      handle: ({ params, body, principal }) =>
        answering(async () => {
          const { kafka } = needPlatform(platform, 'redriving a dead letter');
          const redriver = new DeadLetterRedriver({ db, kafka });
          try {
            return { body: await redriver.redrive(params.id, { actor: actorOf(principal), toOrigin: body.toOrigin, again: body.again, reason: body.reason }) };
          } finally {
            await redriver.close();
          }
        }),
    }),
    route({
      method: 'post',
      path: '/admin/dlq/:id/discard',
      operationId: 'discardDeadLetter',
      tag: 'dead letters',
      summary: 'Marks a dead letter discarded, with the reason (required); the Kafka record stays',
      access: { kind: 'key', scope: 'operate' },
      params: deadLetterParams,
      body: z.object({ reason: z.string({ error: 'is required: say why it is dropped' }).trim().min(1, { error: 'is required: say why it is dropped' }).max(1000) }).strict(),
      ok: '`{discarded: [deadLetter]}`',
      otherResponses: { 404: 'No such dead letter.', 409: 'Redriven or discarded already.' },
      handle: ({ params, body, principal }) => answering(async () => ({ body: { discarded: await discardDeadLetters(db, [params.id], { actor: actorOf(principal), reason: body.reason }) } })),
    }),
  ];
}
