import type { DataKeyStore } from '../crypto/data-key-store';
import { NOT_SEALED, columnOpener, type ColumnSealer } from '../crypto/sealed-columns';
import type { Db, Trx } from '../db/database';
import type { Contact, EventMap } from '../events/generated';
import type { EventRecord } from '../consumer/messages';
import { digestDeliveryId } from './delivery-id';
import { digestLineOf, isPaymentEventType, type DigestEntryKind, type PaymentEventType } from './digest-entry';
import { DueQueue } from './due-queue';
import type { ScheduledEmailRenderer } from './scheduled-email';
import type { ScheduledDelivery, ScheduledJobKind } from './scheduled-job';
import { scheduledRecipient } from './scheduled-ledger';
import { addDays, instantAtLocalHour, localDateOf, type LocalDate } from './zoned-time';

export const DIGESTS_TABLE = 'daily_digests';
export const DIGEST_ENTRIES_TABLE = 'digest_entries';

/** How far ahead a late event looks for a digest that is still open (it finds one on the first try in practice). */
const MAX_DAYS_AHEAD = 400;

/** Whose digest of which local day, and how to address it. */
interface DigestRecipient {
  user_id: string;
  digest_date: LocalDate;
  recipient_email: string;
  recipient_name: string | null;
  locale: string;
  time_zone: string;
}

interface DigestKey extends DigestRecipient {
  next_attempt_at: string;
}

interface OpenedDigest {
  id: string;
  user_id: string;
  digest_date: LocalDate;
  status: string;
}

/**
 * Adds payment events to their users' daily digests, inside the consumer's effects
 * transaction. An event belongs to the local day (user's time zone, UTC if none) it
 * occurred on; that day's digest is due at `digestHour` local time the next day.
 *
 * The upsert locks the digest row until this transaction ends, and the dispatcher claims
 * with SKIP LOCKED, so an entry is either committed before its digest is claimed (and is
 * in it) or sees it claimed or sent. Then, rather than be lost, it joins the user's next
 * open digest (today's, by the scheduler's clock), flagged as late. Returns how many did.
 * The recipient's address and name are stored as `sealer` seals them.
 */
export async function addToDigests(trx: Trx, events: EventRecord[], now: number, digestHour: number, sealer: ColumnSealer = NOT_SEALED): Promise<number> {
  const lines = events.filter((e): e is EventRecord & { type: PaymentEventType } => isPaymentEventType(e.type));
  if (lines.length === 0) return 0;
  const keys = new Map<string, DigestKey>();
  const keyOf = new Map<EventRecord, string>();
  for (const record of lines) {
    const event = record.payload as unknown as EventMap[PaymentEventType];
    const key = digestKey(event.user_id, event.recipient, localDateOf(event.occurred_at, zoneOf(event.recipient)), digestHour, sealer);
    const id = `${key.user_id}\u0000${key.digest_date}`;
    if (!keys.has(id)) keys.set(id, key);
    keyOf.set(record, id);
  }
  const opened = new Map<string, OpenedDigest>();
  for (const digest of await openDigests(trx, [...keys.values()])) opened.set(`${digest.user_id}\u0000${digest.digest_date}`, digest);

  const entries = [];
  for (const record of lines) {
    const key = keys.get(keyOf.get(record) ?? '');
    let digest = opened.get(keyOf.get(record) ?? '');
    if (!key || !digest) throw new Error(`digest of event ${record.eventId} was not opened`);
    const late = digest.status !== 'scheduled';
    if (late) digest = await nextOpenDigest(trx, key, now, digestHour);
    const event = record.payload as unknown as EventMap[PaymentEventType];
    const line = digestLineOf(record.type, event);
    entries.push({
      digest_id: digest.id,
      event_id: record.eventId,
      event_type: record.type,
      kind: line.kind,
      reference: line.reference,
      amount_minor: line.amount?.amount_minor ?? null,
      currency: line.amount?.currency ?? null,
      occurred_at: new Date(event.occurred_at),
      late,
    });
  }
  await trx(DIGEST_ENTRIES_TABLE).insert(entries).onConflict('event_id').ignore();
  return entries.filter((e) => e.late).length;
}

function zoneOf(recipient: Contact): string {
  return recipient.time_zone ?? 'UTC';
}

function digestKey(userId: string, recipient: Contact, date: LocalDate, digestHour: number, sealer: ColumnSealer): DigestKey {
  const timeZone = zoneOf(recipient);
  return {
    user_id: userId,
    digest_date: date,
    recipient_email: sealer.seal(userId, recipient.email.toLowerCase()),
    recipient_name: recipient.name == null ? null : sealer.seal(userId, recipient.name),
    locale: recipient.locale ?? 'en-US',
    time_zone: timeZone,
    next_attempt_at: new Date(instantAtLocalHour(addDays(date, 1), digestHour, timeZone)).toISOString(),
  };
}

/**
 * Creates the digests that do not exist yet and locks all of them. The contact and zone are
 * those of the day's first event: the zone fixed the day's boundaries, so it stays.
 */
async function openDigests(trx: Trx, keys: DigestKey[]): Promise<OpenedDigest[]> {
  // One lock order for every transaction, so two chunks can never deadlock on digests.
  const sorted = [...keys].sort((a, b) => (a.user_id === b.user_id ? a.digest_date.localeCompare(b.digest_date) : a.user_id < b.user_id ? -1 : 1));
  const result = await trx.raw<{ rows: OpenedDigest[] }>(
    `INSERT INTO ${DIGESTS_TABLE} (user_id, digest_date, recipient_email, recipient_name, locale, time_zone, next_attempt_at)
     SELECT user_id, digest_date, recipient_email, recipient_name, locale, time_zone, next_attempt_at
     FROM jsonb_to_recordset(?::jsonb) AS k(user_id text, digest_date date, recipient_email text, recipient_name text,
                                            locale text, time_zone text, next_attempt_at timestamptz)
     ON CONFLICT (user_id, digest_date) DO UPDATE SET updated_at = now()
     RETURNING id::text AS id, user_id, digest_date::text AS digest_date, status`,
    [JSON.stringify(sorted)],
  );
  return result.rows;
}

/** The first digest of the user, from today (by `now`, in their zone) on, that has not been claimed yet. */
async function nextOpenDigest(trx: Trx, key: DigestKey, now: number, digestHour: number): Promise<OpenedDigest> {
  const today = localDateOf(now, key.time_zone);
  let date = today > key.digest_date ? today : addDays(key.digest_date, 1);
  for (let i = 0; i < MAX_DAYS_AHEAD; i++, date = addDays(date, 1)) {
    const [digest] = await openDigests(trx, [{ ...key, digest_date: date, next_attempt_at: new Date(instantAtLocalHour(addDays(date, 1), digestHour, key.time_zone)).toISOString() }]);
    if (digest?.status === 'scheduled') return digest;
  }
  throw new Error(`no open digest for user ${key.user_id} within ${MAX_DAYS_AHEAD} days of ${date}`);
}

interface DigestRow extends DigestRecipient {
  id: string;
}

interface EntryRow {
  event_type: PaymentEventType;
  kind: DigestEntryKind;
  reference: string;
  amount_minor: string | null;
  currency: string | null;
  occurred_at: Date;
  late: boolean;
}

export interface CurrencyTotal {
  currency: string;
  charged_minor: number;
  refunded_minor: number;
  /** Charged minus refunded. */
  net_minor: number;
}

/** Money moved per currency: charges and refunds; failed payments, disputes and invoices move nothing. */
export function digestTotals(entries: ReadonlyArray<{ kind: DigestEntryKind; amount_minor: number | null; currency: string | null }>): CurrencyTotal[] {
  const totals = new Map<string, CurrencyTotal>();
  for (const entry of entries) {
    if (entry.amount_minor === null || entry.currency === null || (entry.kind !== 'charge' && entry.kind !== 'refund')) continue;
    const total = totals.get(entry.currency) ?? { currency: entry.currency, charged_minor: 0, refunded_minor: 0, net_minor: 0 };
    if (entry.kind === 'charge') total.charged_minor += entry.amount_minor;
    else total.refunded_minor += entry.amount_minor;
    total.net_minor = total.charged_minor - total.refunded_minor;
    totals.set(entry.currency, total);
  }
  return [...totals.values()].sort((a, b) => a.currency.localeCompare(b.currency));
}

/** Daily digests as the dispatcher sees them. */
export class DailyDigestJobs implements ScheduledJobKind {
  readonly name = 'daily-digest';
  readonly queue: DueQueue;

  constructor(
    private readonly db: Db,
    private readonly renderer: ScheduledEmailRenderer,
    instanceId: string,
    /** Users' data keys, to open sealed recipients (see addToDigests). */
    private readonly dataKeys?: DataKeyStore,
  ) {
    this.queue = new DueQueue({ db, table: DIGESTS_TABLE, instanceId });
  }

  async prepare(jobId: string): Promise<ScheduledDelivery | 'expired'> {
    const stored = await this.db(DIGESTS_TABLE)
      .where({ id: jobId })
      .first<DigestRow | undefined>('id', 'user_id', this.db.raw('digest_date::text AS digest_date'), 'recipient_email', 'recipient_name', 'locale', 'time_zone');
    if (!stored) return 'expired';
    const opener = await columnOpener(this.dataKeys, [stored.recipient_email, stored.recipient_name]);
    // The user was erased since the digest was opened: there is no one to send it to.
    if (opener.erased(stored.recipient_email)) return 'expired';
    const digest = { ...stored, recipient_email: opener.open(stored.recipient_email), recipient_name: opener.openNullable(stored.recipient_name) };
    // Read after the claim committed: every entry added before it is here (see addToDigests).
    const rows: EntryRow[] = await this.db(DIGEST_ENTRIES_TABLE)
      .where({ digest_id: jobId })
      .orderBy([{ column: 'occurred_at' }, { column: 'id' }])
      .select('event_type', 'kind', 'reference', 'amount_minor', 'currency', 'occurred_at', 'late');
    if (rows.length === 0) return 'expired';
    const entries = rows.map((r) => ({
      event_type: r.event_type,
      kind: r.kind,
      reference: r.reference,
      amount_minor: r.amount_minor === null ? null : Number(r.amount_minor),
      currency: r.currency,
      amount: r.amount_minor === null || r.currency === null ? null : { amount_minor: Number(r.amount_minor), currency: r.currency },
      occurred_at: r.occurred_at.getTime(),
      late: r.late,
    }));
    await this.db(DIGESTS_TABLE).where({ id: jobId }).update({ entry_count: entries.length });
    const deliveryId = digestDeliveryId(digest.user_id, digest.digest_date);
    const email = this.renderer.render(
      'daily-digest',
      {
        event_id: deliveryId,
        recipient: { email: digest.recipient_email, name: digest.recipient_name },
        // Noon of the day names the day in the user's zone, whatever their offset.
        day_at: instantAtLocalHour(digest.digest_date, 12, digest.time_zone),
        count: entries.length,
        totals: digestTotals(entries),
        entries,
      },
      { locale: digest.locale, timeZone: digest.time_zone },
    );
    return { deliveryId, kind: 'DAILY_DIGEST', userId: digest.user_id, to: digest.recipient_email, ledgerRecipient: await scheduledRecipient(this.dataKeys, digest.user_id, digest.recipient_email), email };
  }
}
