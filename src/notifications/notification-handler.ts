import { z } from 'zod';
import type { DeliveryFailure, EventHandler } from '../consumer/event-handler';
import type { EventRecord } from '../consumer/messages';
import type { DataKeyStore } from '../crypto/data-key-store';
import type { Db, Trx } from '../db/database';
import { unnestInsert, type ColumnTypes } from '../db/unnest-insert';
import type { PaymentSucceeded } from '../events/generated';
import { LegalRecords, type LegalDocument } from '../legal/legal-records';
import { createLogger, type Logger } from '../observability/logger';
import type { ChannelName, OutboundMessage } from './channels/channel';
import { isTransactional, type ChannelSender } from './channels/channel-sender';
import { countDelivery, countPlannedSuppressions } from './delivery/delivery-metrics';
import { Deliverer, type DeliveryStats } from './delivery/deliverer';
import { LedgerClaims, USER_ERASED_REASON } from './delivery/ledger-claims';
import { MessageRenderer } from './delivery/message-renderer';
import { defaultInstanceId, parseOptions } from '../config/options';
import { claimOptions } from './delivery/options';
import { activeTokens, ledgerRows, planDeliveries, type PlannedRow } from './delivery/planning';
import type { RecipientColumns } from './delivery/ledger-recipient';
import { defaultEmailRenderer, type EmailRenderer } from './email/render';
import type { PreferenceStore, UserPreferences } from './preferences';
import type { RateLimiter } from './rate-limiter';
import { routeOf } from './routing';

const settingsSchema = z.object({
  /** Domain of Message-IDs and idempotency keys. */
  messageDomain: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a domain name').default('tidings.local'),
  /** Concurrent provider sends per chunk. */
  sendConcurrency: z.number().int().min(1).max(256).default(16),
  /** How often to look again at rows another live deliverer is still sending. */
  claimPollMs: z.number().int().min(10).max(60_000).default(250),
  // The lease is renewed every quarter of it while its owner delivers; a send starts only with half of it left.
  ...claimOptions,
});

/** Settled events noted at most (several chunks' worth); beyond it the notes are dropped and those events claimed as usual. */
const MAX_SETTLED_NOTES = 50_000;

export type NotificationHandlerSettings = z.input<typeof settingsSchema>;

export interface NotificationHandlerOptions extends NotificationHandlerSettings {
  db: Db;
  /** One sender per enabled channel; a channel left out is recorded as `suppressed: channel_disabled`. */
  channels: Partial<Record<ChannelName, ChannelSender>>;
  preferences?: PreferenceStore;
  rateLimiter?: RateLimiter;
  /** Email templates. Default: the bundled ones. */
  emailRenderer?: EmailRenderer;
  clock?: () => Date;
  logger?: Logger;
  /** Users' data keys (`Platform.dataKeys`): addresses, messages and legal copies are then stored sealed. */
  dataKeys?: DataKeyStore;
}


export interface NotificationStats extends DeliveryStats {
  receiptsStored: number;
}

/**
 * The notification group's handler: turns events into notifications, following the routing
 * table.
 *
 * `apply` (in the effects transaction, exactly once per event): a receipt per
 * PAYMENT_SUCCEEDED, the legal copies, and one ledger row per (event, channel, recipient) as
 * planned (delivery/planning.ts); in-app messages are delivered right there.
 * `deliver` (after the commit): claims and sends what is open (delivery/deliverer.ts). A
 * redelivered event finds its rows already `sent` and sends nothing; the one duplicate left is
 * a send whose record never reached the ledger before the lease ran out (see the README).
 * `close` (on shutdown) ends every wait and ledger retry at once.
 */
export class NotificationHandler implements EventHandler {
  readonly stats: NotificationStats = { sent: 0, ledgerRetries: 0, suppressed: 0, deferred: 0, failed: 0, claimsLost: 0, claimWaits: 0, receiptsStored: 0 };
  private readonly legal: LegalRecords;
  private readonly renderer: MessageRenderer;
  private readonly deliverer: Deliverer;
  private readonly abort = new AbortController();
  /** Events applied here whose rows were all settled in their (committed) effects transaction: nothing to claim. */
  private readonly settled = new Set<string>();

  constructor(private readonly options: NotificationHandlerOptions) {
    const { db: _db, channels: _channels, preferences: _p, rateLimiter: _r, emailRenderer: _e, clock: _c, logger: _l, dataKeys: _k, ...rest } = options;
    const settings = parseOptions('notification handler', settingsSchema, rest);
    const logger = options.logger ?? createLogger('notifications');
    this.legal = new LegalRecords(options.db, options.dataKeys);
    this.renderer = new MessageRenderer(options.emailRenderer ?? defaultEmailRenderer(), settings.messageDomain);
    this.deliverer = new Deliverer({
      ledger: new LedgerClaims(options.db, logger, this.stats, options.dataKeys),
      channels: options.channels,
      preferences: options.preferences,
      rateLimiter: options.rateLimiter,
      renderer: this.renderer,
      owner: settings.instanceId ?? defaultInstanceId(),
      sendConcurrency: settings.sendConcurrency,
      leaseMs: settings.leaseMs,
      claimPollMs: settings.claimPollMs,
      stats: this.stats,
      logger,
      now: () => (options.clock ? options.clock() : new Date()),
      signal: this.abort.signal,
    });
  }

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    const receipts = events.filter((e) => e.type === 'PAYMENT_SUCCEEDED').map((e) => receiptRow(e.payload as unknown as PaymentSucceeded));
    if (receipts.length > 0) {
      await unnestInsert(trx, 'receipts', RECEIPT_COLUMNS, receipts, { onConflict: ['event_id'] });
      this.stats.receiptsStored += receipts.length;
    }
    // The legal copies (append-only, content-hashed) commit with everything else or not at all.
    const legal = events.flatMap((e) => {
      const kind = e.type === 'PAYMENT_SUCCEEDED' ? 'receipt' : e.type === 'INVOICE_GENERATED' ? 'invoice' : undefined;
      if (!kind) return [];
      const payload = e.payload as unknown as { payment_id?: string | null; user_id: string };
      return [{ kind, eventId: e.eventId, paymentId: payload.payment_id ?? null, userId: payload.user_id, document: { type: e.type, ...(JSON.parse(JSON.stringify(e.payload)) as LegalDocument) } }] as const;
    });
    await this.legal.appendMany(trx, legal);
    await this.plan(events, trx);
  }

  /**
   * The notifications part of `apply` alone: plans the ledger rows of `events` (in-app ones
   * delivered at once). `tidings replay --resend` calls it with events under new ids.
   */
  async plan(events: EventRecord[], trx: Trx): Promise<void> {
    const rows = await this.planRows(events, trx);
    await this.deliverInTransaction(trx, rows, events);
    if (rows.length > 0) await insertLedgerRows(trx, await ledgerRows(rows, this.options.dataKeys));
    countPlannedSuppressions(rows);
    this.noteSettled(trx, events, rows);
  }

  /**
   * Events of erased users (their data key destroyed; see EventHandler.skipErased): nothing is
   * sent, and each routed channel gets a ledger row `suppressed` with reason `user_erased` and
   * no recipient, so the ledger says why the event went without a notification.
   */
  async skipErased(events: EventRecord[], trx: Trx): Promise<void> {
    const rows = events.flatMap((e) =>
      [...new Set(routeOf(e.type).channels.map((c) => c.channel))].map((channel) => ({
        event_id: e.eventId,
        event_type: e.type,
        channel,
        recipient: '',
        user_id: String(e.payload.user_id),
        status: 'suppressed' as const,
        reason: USER_ERASED_REASON,
      })),
    );
    await insertLedgerRows(trx, rows);
    countPlannedSuppressions(rows);
  }

  /** The ledger rows `plan` would write for `events` now, without writing anything. */
  preview(events: EventRecord[]): Promise<PlannedRow[]> {
    return this.planRows(events);
  }

  private async planRows(events: EventRecord[], trx?: Trx): Promise<PlannedRow[]> {
    const users = events.map((e) => String(e.payload.user_id));
    const prefs = (await this.options.preferences?.load(users, trx)) ?? new Map<string, UserPreferences>();
    const needsTokens = events.some((e) => routeOf(e.type).channels.some((c) => c.channel === 'push'));
    const tokens = needsTokens ? await activeTokens(trx ?? this.options.db, users, this.options.dataKeys) : new Map<string, string[]>();
    const enabled = (channel: ChannelName): boolean => this.options.channels[channel] !== undefined;
    return events.flatMap((e) => planDeliveries(e, prefs.get(String(e.payload.user_id)), tokens, enabled));
  }

  deliver(events: EventRecord[]): Promise<DeliveryFailure[]> {
    const open = events.filter((e) => !this.settled.delete(e.eventId));
    if (open.length === 0 && !this.abort.signal.aborted) return Promise.resolve([]);
    return this.deliverer.deliver(open);
  }

  /**
   * Remembers the events whose planned rows were all settled (sent in-app or suppressed) in
   * `trx`, once it has committed: `deliver` then has nothing to claim for them and skips the
   * claim query (most chunks of the bulk lane). Nothing is noted before the commit, so a
   * rolled-back attempt never hides rows; an event not found here is claimed as usual.
   */
  private noteSettled(trx: Trx, events: EventRecord[], rows: PlannedRow[]): void {
    // A savepoint's promise resolves when it is released, before the outer commit.
    if (trx.parentTransaction) return;
    const open = new Set(rows.filter((r) => r.status === 'pending').map((r) => r.event_id));
    const settled = events.filter((e) => !open.has(e.eventId)).map((e) => e.eventId);
    if (settled.length === 0) return;
    trx.executionPromise.then(
      () => {
        // Entries are taken by `deliver`; ones it never asks for (the group stopped, the event went elsewhere) must not pile up.
        if (this.settled.size > MAX_SETTLED_NOTES) this.settled.clear();
        for (const id of settled) this.settled.add(id);
      },
      () => undefined,
    );
  }

  /**
   * Shutdown: waits for other deliverers and ledger retries end at once (a row sent but not
   * yet recorded stays `sending` for the next owner after its lease); `deliver` refuses new work.
   */
  close(): void {
    this.abort.abort();
  }

  /**
   * Delivers the planned rows of a transactional channel (in-app) inside the effects
   * transaction and marks them `sent`. A row whose message cannot be rendered stays `pending`:
   * `deliver` then records the template failure and the event goes to the DLQ as usual.
   */
  private async deliverInTransaction(trx: Trx, rows: PlannedRow[], events: EventRecord[]): Promise<void> {
    const sender = this.options.channels.in_app;
    if (!isTransactional(sender) || this.options.rateLimiter?.limitOf('in_app')) return;
    const byId = new Map(events.map((e) => [e.eventId, e]));
    const ready: Array<{ row: PlannedRow; message: OutboundMessage; templateVersion: string }> = [];
    for (const row of rows) {
      const event = byId.get(row.event_id);
      if (row.channel !== 'in_app' || row.status !== 'pending' || !event) continue;
      try {
        const { templateVersion, ...message } = this.renderer.render(row, event);
        ready.push({ row, message, templateVersion });
      } catch {
        // Left pending: the delivery pass renders it again and records the failure.
      }
    }
    if (ready.length === 0) return;
    const ids = await sender.deliverInTransaction(trx, ready.map((r) => r.message));
    ready.forEach(({ row, templateVersion }, i) => {
      Object.assign(row, { status: 'sent', provider: sender.providerName, provider_message_id: ids[i], template_version: templateVersion, attempts: 1 });
    });
    this.stats.sent += ready.length;
    countDelivery('in_app', 'sent', { provider: sender.providerName, attempts: [] }, ready.length);
  }
}

interface ReceiptRow {
  event_id: string;
  payment_id: string;
  user_id: string;
  order_id: string | null;
  amount_minor: number;
  currency: string;
  card_last4: string | null;
  paid_at: Date;
}

const RECEIPT_COLUMNS: ColumnTypes<ReceiptRow> = {
  event_id: 'uuid',
  payment_id: 'text',
  user_id: 'text',
  order_id: 'text',
  amount_minor: 'bigint',
  currency: 'text',
  card_last4: 'text',
  paid_at: 'timestamptz',
};

function receiptRow(p: PaymentSucceeded): ReceiptRow {
  return {
    event_id: p.event_id,
    payment_id: p.payment_id,
    user_id: p.user_id,
    order_id: p.order_id ?? null,
    amount_minor: p.amount.amount_minor,
    currency: p.amount.currency,
    card_last4: p.card_last4 ?? null,
    paid_at: new Date(p.occurred_at),
  };
}

/** A planned ledger row as inserted; the columns a row does not set are NULL, `attempts` 0. */
type LedgerInsertRow = Pick<PlannedRow, 'event_id' | 'event_type' | 'channel' | 'user_id' | 'status' | 'reason' | 'provider' | 'provider_message_id' | 'template_version' | 'attempts'> &
  Pick<RecipientColumns, 'recipient'> &
  Partial<Pick<RecipientColumns, 'recipient_sealed'>>;

const LEDGER_COLUMNS: ColumnTypes<Required<LedgerInsertRow>> = {
  event_id: 'uuid',
  event_type: 'text',
  channel: 'text',
  recipient: 'text',
  recipient_sealed: 'text',
  user_id: 'text',
  status: 'text',
  reason: 'text',
  provider: 'text',
  provider_message_id: 'text',
  template_version: 'text',
  attempts: 'int',
};

/** Planned rows into delivery_ledger in one statement; a row whose (event, channel, recipient) exists is skipped. */
async function insertLedgerRows(trx: Trx, rows: readonly LedgerInsertRow[]): Promise<void> {
  const complete = rows.map((row) => ({ ...row, attempts: row.attempts ?? 0 }));
  await unnestInsert(trx, 'delivery_ledger', LEDGER_COLUMNS, complete, { onConflict: ['event_id', 'channel', 'recipient'] });
}
