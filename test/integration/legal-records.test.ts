import { randomUUID } from 'node:crypto';
import { contentHash } from '../../src/audit/content-hash';
import type { Db } from '../../src/db/database';
import { LegalRecords, verifyLegalRecord, type LegalRecordInput } from '../../src/legal/legal-records';
import { createTestDatabase } from '../helpers/test-database';

describe('legal records: receipts and invoices kept append-only with a content hash', () => {
  let db: Db;
  let dispose: (() => Promise<void>) | undefined;
  let legal: LegalRecords;

  beforeAll(async () => {
    ({ db, dispose } = await createTestDatabase());
    legal = new LegalRecords(db);
  });

  afterAll(async () => {
    await dispose?.();
  });

  const receipt = (paymentId: string, userId: string): LegalRecordInput => ({
    kind: 'receipt',
    eventId: randomUUID(),
    paymentId,
    userId,
    document: { receipt_number: `R-${paymentId}`, amount: { amount_minor: 1999, currency: 'EUR' }, items: [{ sku: 'pro', quantity: 1 }], paid_at: '2026-03-01T10:00:00.000Z' },
  });

  it('stores a receipt inside the caller’s transaction, with the hash of its canonical JSON', async () => {
    const input = receipt('pay_1', 'user-legal-1');
    const { record, created } = await db.transaction((trx) => legal.append(trx, input));
    expect(created).toBe(true);
    // Key order does not change the hash: it is taken over canonical JSON.
    expect(record.contentHash).toBe(contentHash({ paid_at: '2026-03-01T10:00:00.000Z', items: [{ quantity: 1, sku: 'pro' }], amount: { currency: 'EUR', amount_minor: 1999 }, receipt_number: 'R-pay_1' }));
    expect(verifyLegalRecord(record)).toBe(true);
    expect(await legal.byPaymentId('pay_1')).toEqual([record]);
  });

  it('stores nothing when the caller’s transaction rolls back', async () => {
    const input = receipt('pay_rollback', 'user-legal-1');
    await expect(
      db.transaction(async (trx) => {
        await legal.append(trx, input);
        throw new Error('business change failed');
      }),
    ).rejects.toThrow('business change failed');
    expect(await legal.byPaymentId('pay_rollback')).toEqual([]);
  });

  it('treats a second append of the same event as a no-op and returns the stored record', async () => {
    const input = receipt('pay_2', 'user-legal-2');
    const first = await legal.append(db, input);
    const again = await legal.append(db, { ...input, document: { ...input.document, receipt_number: 'changed' } });
    expect(again).toEqual({ record: first.record, created: false });
    expect(await db('legal_records').where({ event_id: input.eventId })).toHaveLength(1);
  });

  it('has the database refuse UPDATE, DELETE and TRUNCATE', async () => {
    const { record } = await legal.append(db, receipt('pay_3', 'user-legal-3'));
    await expect(db('legal_records').where({ id: record.id }).update({ document: JSON.stringify({ forged: true }) })).rejects.toThrow(/legal_records is append-only: UPDATE/);
    await expect(db('legal_records').where({ id: record.id }).delete()).rejects.toThrow(/legal_records is append-only: DELETE/);
    await expect(db.raw('TRUNCATE legal_records')).rejects.toThrow(/append-only/);
    expect(await legal.byPaymentId('pay_3')).toEqual([record]);
  });

  it('detects a document that no longer matches its hash', async () => {
    const { record } = await legal.append(db, receipt('pay_4', 'user-legal-4'));
    expect(verifyLegalRecord({ ...record, document: { ...record.document, amount: { amount_minor: 1, currency: 'EUR' } } })).toBe(false);
  });

  it('finds a payment’s receipt and invoice by payment id, and a user’s records newest first', async () => {
    const user = 'user-legal-5';
    const invoice = await legal.append(db, { kind: 'invoice', eventId: randomUUID(), paymentId: 'pay_5', userId: user, document: { invoice_id: 'INV-5', amount: { amount_minor: 500, currency: 'USD' } } });
    const paid = await legal.append(db, { ...receipt('pay_5', user) });
    const unpaid = await legal.append(db, { kind: 'invoice', eventId: randomUUID(), paymentId: null, userId: user, document: { invoice_id: 'INV-6' } });

    expect((await legal.byPaymentId('pay_5')).map((r) => [r.kind, r.id])).toEqual([
      ['invoice', invoice.record.id],
      ['receipt', paid.record.id],
    ]);
    expect((await legal.byUser(user)).map((r) => r.id)).toEqual([unpaid.record.id, paid.record.id, invoice.record.id]);
    expect((await legal.byUser(user, { limit: 1, before: unpaid.record.id })).map((r) => r.id)).toEqual([paid.record.id]);
    expect(await legal.byUser('nobody')).toEqual([]);
  });
});
