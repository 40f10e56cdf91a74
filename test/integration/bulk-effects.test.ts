import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/database';
import { InAppStore } from '../../src/in-app/in-app-store';
import { LegalRecords, verifyLegalRecord } from '../../src/legal/legal-records';
import { createTestDatabase } from '../helpers/test-database';

/**
 * The effects transaction writes its rows many per statement, each column bound as one
 * PostgreSQL array (src/db/unnest-insert.ts). Text that looks like array syntax must still be
 * stored exactly as given, and a repeated key skipped, as with one row per statement.
 */
describe('rows written many per statement are stored exactly, each key once', () => {
  let db: Db;
  let dispose: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ db, dispose } = await createTestDatabase());
  });

  afterAll(async () => {
    await dispose?.();
  });

  // Quotes, backslashes, braces, commas, the word NULL, an empty string, newlines and non-ASCII.
  const awkward = ['say "hi", {friend}', 'C:\\path\\to\\{x}', 'NULL', '', 'line 1\nline 2\t€ 12,50 — ünïcödé 🎉', '{"a":[1,2]}', '\\"'];

  it('in-app notifications keep awkward titles and bodies, and an event already shown to a user keeps its one row', async () => {
    const store = new InAppStore(db);
    const eventId = randomUUID();
    const notifications = awkward.map((text, i) => ({ userId: `user-bulk-${i}`, eventId, kind: 'PAYMENT_FAILED', title: text, body: `${text}!`, data: { note: text } }));
    const ids = await db.transaction((trx) => store.addMany(trx, notifications));
    const again = await db.transaction((trx) => store.addMany(trx, [notifications[0]!, notifications[0]!]));
    expect(again).toEqual([ids[0], ids[0]]);
    for (const [i, text] of awkward.entries()) {
      const [stored] = await store.list(`user-bulk-${i}`, { limit: 10 });
      expect(stored).toMatchObject({ id: ids[i], title: text, body: `${text}!`, data: { note: text } });
    }
  });

  it('legal records keep awkward documents whole and verifiable, and a repeated event is recorded once', async () => {
    const legal = new LegalRecords(db);
    const inputs = awkward.map((text, i) => ({ kind: 'invoice' as const, eventId: randomUUID(), paymentId: i % 2 === 0 ? null : `pay-bulk-${i}`, userId: 'user-bulk-legal', document: { type: 'INVOICE_GENERATED', memo: text, lines: [text, null] } }));
    expect(await db.transaction((trx) => legal.appendMany(trx, [...inputs, inputs[0]!]))).toBe(inputs.length);
    expect(await legal.appendMany(db, inputs)).toBe(0);
    const stored = await legal.byUser('user-bulk-legal');
    expect(stored).toHaveLength(inputs.length);
    for (const input of inputs) {
      const record = stored.find((r) => r.eventId === input.eventId);
      expect(record).toMatchObject({ paymentId: input.paymentId, document: input.document });
      expect(verifyLegalRecord(record!)).toBe(true);
    }
  });
});
