import { canonicalJson, contentHash, sha256Hex, type JsonValue } from '../audit/content-hash';
import type { DataKeyStore } from '../crypto/data-key-store';
import { columnSealer } from '../crypto/sealed-columns';
import type { Db, Trx } from '../db/database';
import { unnestInsert, type ColumnTypes } from '../db/unnest-insert';
import { isEventType } from '../events/catalog';

export type LegalRecordKind = 'receipt' | 'invoice';

/**
 * A receipt or invoice as a JSON document (amounts in integer minor units, never floats). The
 * document of an event is its payload with the event type as `type`.
 */
export type LegalDocument = { [key: string]: JsonValue };

export interface LegalRecordInput {
  kind: LegalRecordKind;
  /** The event that issued the document; appending the same event again is a no-op. */
  eventId: string;
  /** The payment the document belongs to; null for an invoice no payment settles yet. */
  paymentId: string | null;
  userId: string;
  document: LegalDocument;
}

export interface LegalRecord extends LegalRecordInput {
  id: string;
  /** SHA-256 (hex) of the document's canonical JSON. */
  contentHash: string;
  recordedAt: Date;
}

export interface AppendResult {
  record: LegalRecord;
  /** False when the event had been recorded before (the stored record is returned). */
  created: boolean;
}

interface Row {
  id: string;
  kind: LegalRecordKind;
  event_id: string;
  payment_id: string | null;
  user_id: string;
  document: LegalDocument;
  content_hash: string;
  recorded_at: Date;
}

/**
 * Receipts and invoices kept for the law: append-only (the database refuses UPDATE and
 * DELETE), each with a content hash, idempotent per event. `append` takes the caller's
 * transaction so a record is stored if and only if the caller's other effects commit.
 *
 * With a key store, the fields an event's schema marks personal (the customer's address and
 * name) are sealed with the user's data key before the document is hashed and stored: the
 * record stays whole and verifiable after an erasure, without the personal data. Read
 * documents are as stored (sealed).
 */
export class LegalRecords {
  constructor(
    private readonly db: Db,
    private readonly dataKeys?: DataKeyStore,
  ) {}

  async append(trx: Trx | Db, input: LegalRecordInput): Promise<AppendResult> {
    const [sealed] = await this.sealed([input]);
    const inserted = (await trx('legal_records')
      .insert(recordRow(sealed as LegalRecordInput))
      .onConflict('event_id')
      .ignore()
      .returning('*')) as Row[];
    if (inserted[0]) return { record: toRecord(inserted[0]), created: true };
    const existing = (await trx('legal_records').where({ event_id: input.eventId }).first()) as Row;
    return { record: toRecord(existing), created: false };
  }

  /**
   * Appends many records in one statement inside the caller's transaction; an event that
   * already has its record is skipped. Returns how many were new.
   */
  async appendMany(trx: Trx | Db, inputs: readonly LegalRecordInput[]): Promise<number> {
    if (inputs.length === 0) return 0;
    const inserted = await unnestInsert(trx, 'legal_records', RECORD_COLUMNS, (await this.sealed(inputs)).map(recordRow), { onConflict: ['event_id'], returning: ['id'] });
    return inserted.length;
  }

  private async sealed(inputs: readonly LegalRecordInput[]): Promise<LegalRecordInput[]> {
    const sealer = await columnSealer(this.dataKeys, inputs.map((i) => i.userId));
    return inputs.map((input) => {
      const type = input.document.type;
      return typeof type === 'string' && isEventType(type) ? { ...input, document: sealer.sealPayload(type, input.userId, input.document) } : input;
    });
  }

  /** Every record of a payment, oldest first. */
  async byPaymentId(paymentId: string): Promise<LegalRecord[]> {
    const rows = (await this.db('legal_records').where({ payment_id: paymentId }).orderBy('id')) as Row[];
    return rows.map(toRecord);
  }

  /** A user's records, newest first; `before` (a record id) pages back. */
  async byUser(userId: string, options: { limit?: number; before?: string } = {}): Promise<LegalRecord[]> {
    const query = this.db('legal_records').where({ user_id: userId }).orderBy('id', 'desc').limit(options.limit ?? 100);
    if (options.before !== undefined) query.where('id', '<', options.before);
    return ((await query) as Row[]).map(toRecord);
  }
}

/** Whether a record's document still matches the hash it was stored with. */
export function verifyLegalRecord(record: Pick<LegalRecord, 'document' | 'contentHash'>): boolean {
  return contentHash(record.document) === record.contentHash;
}

type RecordRow = Pick<Row, 'kind' | 'event_id' | 'payment_id' | 'user_id' | 'content_hash'> & { document: string };

const RECORD_COLUMNS: ColumnTypes<RecordRow> = { kind: 'text', event_id: 'uuid', payment_id: 'text', user_id: 'text', document: 'jsonb', content_hash: 'text' };

function recordRow(input: LegalRecordInput): RecordRow {
  // jsonb reorders keys; the hash is over canonical JSON, which reads back the same.
  const canonical = canonicalJson(input.document);
  return { kind: input.kind, event_id: input.eventId, payment_id: input.paymentId, user_id: input.userId, document: canonical, content_hash: sha256Hex(canonical) };
}

function toRecord(row: Row): LegalRecord {
  return {
    id: String(row.id),
    kind: row.kind,
    eventId: row.event_id,
    paymentId: row.payment_id,
    userId: row.user_id,
    document: row.document,
    contentHash: row.content_hash,
    recordedAt: row.recorded_at,
  };
}
