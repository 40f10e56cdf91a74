import type { DataKeyReader } from '../crypto/personal-fields';
import { columnOpener } from '../crypto/sealed-columns';
import type { Db, Trx } from '../db/database';
import { contentHash, sha256Hex, type JsonValue } from './content-hash';

/** One event as the audit log records it. */
export interface AuditEntry {
  eventId: string;
  eventType: string;
  userId: string;
  topic: string;
  partition: number;
  offset: string;
  /** The producing service when the record names it, else the topic. */
  source: string;
  occurredAt: Date;
  payload: JsonValue;
}

export interface AuditRow extends AuditEntry {
  id: string;
  recordedAt: Date;
  contentHash: string;
  prevChainHash: string;
  chainHash: string;
}

export interface AuditChainReport {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  /** Id of the first row whose content or link does not verify; the chain is untrusted from there on. */
  firstBrokenId?: string;
}

/** The chain hash before the first row. */
export const GENESIS_CHAIN_HASH = '0'.repeat(64);

// One lock for the whole chain: appends from every instance of the group take turns, so each
// row links to the row committed just before it. Arbitrary constant, unique within Tidings.
const CHAIN_LOCK_KEY = 7_310_020_001;

interface DbRow {
  id: string;
  event_id: string;
  event_type: string;
  user_id: string;
  topic: string;
  partition: number;
  offset: string;
  source: string;
  occurred_at: Date;
  recorded_at: Date;
  payload: JsonValue;
  content_hash: string;
  prev_chain_hash: string;
  chain_hash: string;
}

type ContentColumns = Omit<DbRow, 'id' | 'content_hash' | 'prev_chain_hash' | 'chain_hash'>;

/** The columns `content_hash` covers: all but the id and the chain links. */
function contentColumns(entry: AuditEntry, recordedAt: Date): ContentColumns {
  return {
    // PostgreSQL's uuid type prints lower case; hash what it will give back.
    event_id: entry.eventId.toLowerCase(),
    event_type: entry.eventType,
    user_id: entry.userId,
    topic: entry.topic,
    partition: entry.partition,
    offset: entry.offset,
    source: entry.source,
    occurred_at: entry.occurredAt,
    recorded_at: recordedAt,
    payload: entry.payload,
  };
}

export function chainHash(prevChainHash: string, contentHashHex: string): string {
  return sha256Hex(prevChainHash + contentHashHex);
}

/**
 * Appends entries to the chain inside the caller's transaction. Holds the chain's advisory
 * lock until that transaction ends; an event already in the log is skipped, so the chain
 * never holds it twice (e.g. when a second group id replays the same topics).
 * Returns the number of rows appended.
 */
export async function appendToAuditLog(trx: Trx, entries: AuditEntry[]): Promise<number> {
  if (entries.length === 0) return 0;
  await trx.raw('SELECT pg_advisory_xact_lock(?)', [CHAIN_LOCK_KEY]);
  const present = new Set(
    (await trx('audit_log').whereIn('event_id', entries.map((e) => e.eventId)).pluck('event_id')) as string[],
  );
  const last = (await trx('audit_log').orderBy('id', 'desc').first('chain_hash')) as { chain_hash: string } | undefined;
  let prev = last?.chain_hash ?? GENESIS_CHAIN_HASH;
  const recordedAt = new Date();
  const rows: Omit<DbRow, 'id'>[] = [];
  for (const entry of entries) {
    if (present.has(entry.eventId)) continue;
    present.add(entry.eventId);
    const columns = contentColumns(entry, recordedAt);
    // Canonical JSON writes the dates as ISO strings, as they read back.
    const content = contentHash(columns);
    const chain = chainHash(prev, content);
    rows.push({ ...columns, content_hash: content, prev_chain_hash: prev, chain_hash: chain });
    prev = chain;
  }
  // Ids come from a sequence drawn while the lock is held, so id order is chain order.
  if (rows.length > 0) await trx('audit_log').insert(rows.map((r) => ({ ...r, payload: JSON.stringify(r.payload) })));
  return rows.length;
}

/**
 * Recomputes every row's content hash and chain link in id order. A row edited in place, a
 * row removed or a row inserted out of turn makes `ok` false and names the first bad row.
 */
export async function verifyAuditChain(db: Db, options: { batchSize?: number } = {}): Promise<AuditChainReport> {
  const batchSize = options.batchSize ?? 1000;
  let prev = GENESIS_CHAIN_HASH;
  let rows = 0;
  let after = '0';
  for (;;) {
    // Keyset pages keep memory flat however long the log grows.
    const page = (await db('audit_log').where('id', '>', after).orderBy('id').limit(batchSize)) as DbRow[];
    for (const row of page) {
      rows++;
      const content = contentHash(contentColumns(toEntry(row), row.recorded_at));
      if (row.content_hash !== content || row.prev_chain_hash !== prev || row.chain_hash !== chainHash(prev, content)) {
        return { ok: false, rows, firstBrokenId: String(row.id) };
      }
      prev = row.chain_hash;
    }
    if (page.length < batchSize) return { ok: true, rows };
    after = String(page[page.length - 1]!.id);
  }
}

/**
 * The log in chain order, optionally only one user's rows. Payloads are as stored (personal
 * fields sealed when the audit group seals them) unless `keys` is given: then they are
 * opened, and a value of an erased user reads as ERASED. The hashes are always those of the
 * stored form, which is what verifyAuditChain checks.
 */
export async function readAuditLog(db: Db, filter: { userId?: string; limit?: number } = {}, keys?: DataKeyReader): Promise<AuditRow[]> {
  const query = db('audit_log').orderBy('id').limit(filter.limit ?? 1000);
  if (filter.userId !== undefined) query.where({ user_id: filter.userId });
  const rows = (await query) as DbRow[];
  const opener = keys ? await columnOpener(keys, rows.map((r) => r.payload)) : undefined;
  return rows.map((row) => ({
    ...toEntry(row),
    payload: opener ? opener.openDeep(row.payload) : row.payload,
    id: String(row.id),
    recordedAt: row.recorded_at,
    contentHash: row.content_hash,
    prevChainHash: row.prev_chain_hash,
    chainHash: row.chain_hash,
  }));
}

function toEntry(row: DbRow): AuditEntry {
  return {
    eventId: row.event_id,
    eventType: row.event_type,
    userId: row.user_id,
    topic: row.topic,
    partition: row.partition,
    offset: String(row.offset),
    source: row.source,
    occurredAt: row.occurred_at,
    payload: row.payload,
  };
}
