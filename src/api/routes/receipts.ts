import { z } from 'zod';
import { LegalRecords, verifyLegalRecord, type LegalRecord } from '../../legal/legal-records';
import { route, type Route, type RouteDeps } from '../route';
import { beforeField, id, limitField, nextBefore, userParams } from './common';

/** A record as served: with whether its document still matches its stored hash. */
function withVerification(record: LegalRecord): LegalRecord & { verified: boolean } {
  return { ...record, verified: verifyLegalRecord(record) };
}

/** Admin: receipts and invoices (the append-only legal records) by payment and by user, each verified against its hash. */
export function receiptRoutes({ db, maxPageSize }: RouteDeps): Route[] {
  const legal = new LegalRecords(db);
  return [
    route({
      method: 'get',
      path: '/admin/payments/:paymentId/receipt',
      operationId: 'getPaymentReceipt',
      tag: 'receipts',
      summary: "A payment's receipt and invoice, oldest first, each with `verified`: its document still matches its SHA-256",
      access: { kind: 'key', scope: 'read' },
      params: z.object({ paymentId: id }),
      ok: '`{paymentId, records: [{id, kind, eventId, paymentId, userId, document, contentHash, recordedAt, verified}]}`',
      otherResponses: { 404: 'No legal record for this payment.' },
      async handle({ params: { paymentId } }) {
        const records = await legal.byPaymentId(paymentId);
        if (records.length === 0) return { status: 404, body: { error: 'not_found', message: `no legal records for payment ${paymentId}` } };
        return { body: { paymentId, records: records.map(withVerification) } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/users/:userId/receipts',
      operationId: 'listUserReceipts',
      tag: 'receipts',
      summary: "A user's receipts and invoices, newest first, each with `verified`",
      access: { kind: 'key', scope: 'read' },
      params: userParams,
      query: z.object({ limit: limitField(maxPageSize), before: beforeField('a record id') }),
      ok: '`{userId, records: [...], nextBefore}`',
      async handle({ params: { userId }, query }) {
        const records = await legal.byUser(userId, { limit: query.limit, before: query.before === undefined ? undefined : String(query.before) });
        return { body: { userId, records: records.map(withVerification), nextBefore: nextBefore(records, query.limit) } };
      },
    }),
  ];
}
