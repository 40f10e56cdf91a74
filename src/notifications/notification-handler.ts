import type { DeliveryFailure, EventHandler } from '../consumer/event-handler';
import type { EventRecord } from '../consumer/messages';
import type { Db, Trx } from '../db/database';
import { RecipientUnreachableError, TidingsError, describe } from '../errors';
import type { EventMap, EventType, PaymentSucceeded } from '../events/generated';
import { LegalRecords, type LegalDocument } from '../legal/legal-records';
import { faultPoint } from '../observability/fault-injection';
import { createLogger, type Logger } from '../observability/logger';
import { backoffDelay } from '../retry/backoff';
import type { ChannelName, OutboundMessage } from './channels/channel';
import { isTransactional, type ChannelSender } from './channels/channel-sender';
import { attemptRows } from './delivery-attempts';
import { defaultEmailRenderer, type EmailRenderer } from './email/render';
import { decide, inQuietHours, quietHoursEnd, type PreferenceStore, type UserPreferences } from './preferences';
import type { FailoverResult } from './providers/failover';
import type { RateLimiter } from './rate-limiter';
import { routeOf, type ChannelRoute, type Route } from './routing';
import { renderShort } from './short-render';

export interface NotificationHandlerOptions {
  db: Db;
  /** One sender per enabled channel; a channel left out is recorded as `suppressed: channel_disabled`. */
  channels: Partial<Record<ChannelName, ChannelSender>>;
  preferences?: PreferenceStore;
  rateLimiter?: RateLimiter;
  /** Domain of Message-IDs and idempotency keys. Default `tidings.local`. */
  messageDomain?: string;
  /** Concurrent provider sends per chunk. Default 16. */
  sendConcurrency?: number;
  /** Email templates. Default: the bundled ones. */
  emailRenderer?: EmailRenderer;
  clock?: () => Date;
  logger?: Logger;
}

export interface NotificationStats {
  sent: number;
  /** Retries of recording a provider's acceptance while the database was unreachable. */
  ledgerRetries: number;
  suppressed: number;
  deferred: number;
  failed: number;
  receiptsStored: number;
}

interface LedgerRow {
  id: string;
  event_id: string;
  channel: ChannelName;
  recipient: string;
  user_id: string | null;
  attempts: number;
}

type PlannedRow = {
  event_id: string;
  event_type: string;
  channel: ChannelName;
  recipient: string;
  user_id: string;
  status: 'pending' | 'suppressed' | 'sent';
  reason: string | null;
  // Set when the row was delivered in the effects transaction (in-app).
  provider?: string;
  provider_message_id?: string;
  template_version?: string;
  attempts?: number;
};

/**
 * Turns events into notifications, following the routing table.
 *
 * In the effects transaction (exactly once per event): a receipt per PAYMENT_SUCCEEDED and
 * one ledger row per (event, channel, recipient) — `pending`, or `suppressed` with the reason
 * (opted out, not opted in, no address). After the commit, `deliver` sends what is pending:
 * rendered per channel and locale, held to quiet hours and rate limits, sent through the
 * channel's providers with failover; every provider attempt is recorded. A redelivered event
 * finds its rows already `sent` and sends nothing; the one duplicate left is a crash between
 * a provider accepting and the ledger recording it (see the README).
 */
export class NotificationHandler implements EventHandler {
  readonly stats: NotificationStats = { sent: 0, ledgerRetries: 0, suppressed: 0, deferred: 0, failed: 0, receiptsStored: 0 };
  private readonly logger: Logger;
  private readonly domain: string;
  private readonly legal: LegalRecords;
  private readonly emailRenderer: EmailRenderer;

  constructor(private readonly options: NotificationHandlerOptions) {
    this.logger = options.logger ?? createLogger('notifications');
    this.domain = options.messageDomain ?? 'tidings.local';
    this.legal = new LegalRecords(options.db);
    this.emailRenderer = options.emailRenderer ?? defaultEmailRenderer();
  }

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    const receipts = events.filter((e) => e.type === 'PAYMENT_SUCCEEDED').map((e) => receiptRow(e.payload as unknown as PaymentSucceeded));
    if (receipts.length > 0) {
      await trx('receipts').insert(receipts).onConflict('event_id').ignore();
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
    const users = events.map((e) => String(e.payload.user_id));
    const prefs = (await this.options.preferences?.load(users, trx)) ?? new Map<string, UserPreferences>();
    const needsTokens = events.some((e) => routeOf(e.type).channels.some((c) => c.channel === 'push'));
    const tokens = needsTokens ? await activeTokens(trx, users) : new Map<string, string[]>();
    const rows = events.flatMap((e) => this.plan(e, prefs.get(String(e.payload.user_id)), tokens));
    await this.deliverInTransaction(trx, rows, events);
    if (rows.length > 0) await trx('delivery_ledger').insert(rows).onConflict(['event_id', 'channel', 'recipient']).ignore();
  }

  async deliver(events: EventRecord[]): Promise<DeliveryFailure[]> {
    const byId = new Map(events.map((e) => [e.eventId, e]));
    const pending: LedgerRow[] = await this.options.db('delivery_ledger')
      .whereIn('event_id', [...byId.keys()])
      .andWhere({ status: 'pending' })
      .select('id', 'event_id', 'channel', 'recipient', 'user_id', 'attempts');
    if (pending.length === 0) return [];
    const prefs = (await this.options.preferences?.load(events.map((e) => String(e.payload.user_id)))) ?? new Map<string, UserPreferences>();
    const failures: DeliveryFailure[] = [];
    await forEachLimited(pending, this.options.sendConcurrency ?? 16, async (row) => {
      const event = byId.get(row.event_id);
      if (!event) return;
      const error = await this.deliverRow(row, event, prefs.get(String(event.payload.user_id)));
      if (error !== undefined) failures.push({ eventId: row.event_id, error });
    });
    return failures;
  }

  /** The ledger rows of one event: one per routed channel and address. */
  private plan(event: EventRecord, prefs: UserPreferences | undefined, tokens: Map<string, string[]>): PlannedRow[] {
    const route = routeOf(event.type) as Route<EventType>;
    const payload = event.payload as unknown as EventMap[EventType];
    const userId = payload.user_id;
    const planned = new Set<ChannelName>();
    const rows: PlannedRow[] = [];
    const add = (channelRoute: ChannelRoute<EventType>): void => {
      if (planned.has(channelRoute.channel)) return;
      planned.add(channelRoute.channel);
      const decision = decide(route, channelRoute, prefs);
      const addresses = addressesOf(channelRoute.channel, payload, tokens.get(userId) ?? []);
      const base = { event_id: event.eventId, event_type: event.type, channel: channelRoute.channel, user_id: userId };
      const disabled = !this.options.channels[channelRoute.channel];
      if (disabled || addresses.length === 0) {
        // Not configured here, or no address: recorded as such at once, not by an update later.
        const reason = disabled ? 'channel_disabled' : 'no_address';
        for (const recipient of addresses.length > 0 ? addresses : ['']) rows.push({ ...base, recipient, status: 'suppressed', reason });
        // No way to reach the user on this channel: use its fallback channel instead.
        const fallback = channelRoute.fallback;
        if (fallback && decision.send) add({ channel: fallback });
        return;
      }
      for (const recipient of addresses) {
        rows.push({ ...base, recipient, status: decision.send ? 'pending' : 'suppressed', reason: decision.send ? null : decision.reason });
      }
    };
    for (const channelRoute of route.channels) {
      if (channelRoute.when && !channelRoute.when(payload)) continue;
      add(channelRoute);
    }
    return rows;
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
        const { templateVersion, ...message } = this.render(row, event);
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
  }

  /** Delivers one pending row; returns the error that should retry or dead-letter the event, if any. */
  private async deliverRow(row: LedgerRow, event: EventRecord, prefs: UserPreferences | undefined): Promise<unknown> {
    const sender = this.options.channels[row.channel];
    if (!sender) return this.finish(row, 'suppressed', { reason: 'channel_disabled' });
    const route = routeOf(event.type);
    let message: OutboundMessage & { templateVersion: string };
    try {
      message = this.render(row, event);
    } catch (error) {
      await this.finish(row, 'failed', { reason: 'template', error });
      return error;
    }
    const now = this.now();
    // Quiet hours hold back non-urgent messages on intrusive channels until they are over.
    if (route.priority !== 'high' && (row.channel === 'sms' || row.channel === 'push') && prefs?.quietHours && inQuietHours(prefs.quietHours, now)) {
      const { templateVersion, ...stored } = message;
      return this.finish(row, 'deferred', { reason: 'quiet_hours', notBefore: quietHoursEnd(prefs.quietHours, now), message: stored, templateVersion });
    }
    if (this.options.rateLimiter && row.user_id && !(await this.options.rateLimiter.take(row.user_id, row.channel, now))) {
      return this.finish(row, 'suppressed', { reason: 'rate_limited', templateVersion: message.templateVersion });
    }
    const result = await sender.sendWithAttempts(message);
    if (result.receipt) {
      faultPoint('notification.after-provider-accepted');
      const receipt = result.receipt;
      // The provider has it: keep trying to record that through a database outage, so an
      // outage (unlike a crash) never turns into a second send.
      return this.untilRecorded(() =>
        this.finish(row, 'sent', { provider: result.provider, providerMessageId: receipt.providerMessageId, templateVersion: message.templateVersion }, result.attempts),
      );
    }
    const error = result.error;
    if (error instanceof RecipientUnreachableError) {
      // A dead address is the user's state, not the event's fault: record it, try the fallback.
      await this.finish(row, 'failed', { reason: 'unreachable', error, templateVersion: message.templateVersion }, result.attempts);
      return this.fallback(row, event);
    }
    const retriable = !(error instanceof TidingsError) || error.retriable;
    await this.finish(row, retriable ? 'pending' : 'failed', { error, templateVersion: message.templateVersion }, result.attempts);
    this.logger.warn({ eventId: row.event_id, channel: row.channel, error: describe(error) }, 'notification not sent');
    return error;
  }

  private async untilRecorded(write: () => Promise<undefined>): Promise<undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        this.stats.ledgerRetries++;
        const wait = backoffDelay(attempt, 200, 5_000);
        this.logger.warn({ attempt: attempt + 1, retryInMs: wait, error: describe(error) }, 'sent, but the ledger is unreachable; retrying the update');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async fallback(row: LedgerRow, event: EventRecord): Promise<unknown> {
    const channelRoute = routeOf(event.type).channels.find((c) => c.channel === row.channel);
    if (!channelRoute?.fallback) return undefined;
    const payload = event.payload as unknown as EventMap[EventType];
    const [recipient] = addressesOf(channelRoute.fallback, payload, []);
    if (!recipient) return undefined;
    const [inserted] = (await this.options.db('delivery_ledger')
      .insert({ event_id: event.eventId, event_type: event.type, channel: channelRoute.fallback, recipient, user_id: payload.user_id, status: 'pending', reason: `fallback_from_${row.channel}` })
      .onConflict(['event_id', 'channel', 'recipient'])
      .ignore()
      .returning(['id', 'event_id', 'channel', 'recipient', 'user_id', 'attempts'])) as LedgerRow[];
    // Already planned on that channel (e.g. a severe login alert also goes by SMS): nothing to add.
    if (!inserted) return undefined;
    return this.deliverRow(inserted, event, undefined);
  }

  private render(row: Pick<LedgerRow, 'channel' | 'recipient'>, event: EventRecord): OutboundMessage & { templateVersion: string } {
    const payload = event.payload as unknown as EventMap[EventType];
    const base = {
      channel: row.channel,
      eventId: event.eventId,
      userId: payload.user_id,
      recipient: row.recipient,
      idempotencyKey: `${event.eventId}.${row.channel}@${this.domain}`,
    };
    if (row.channel === 'email') {
      const email = this.emailRenderer.render(event.type, payload);
      return { ...base, title: email.subject, text: email.text, html: email.html, data: { eventType: event.type, eventId: event.eventId }, templateVersion: email.version };
    }
    const short = renderShort(event.type, row.channel, payload);
    return { ...base, title: short.title, text: short.text, data: { eventType: event.type, eventId: event.eventId }, templateVersion: short.version };
  }

  private async finish(
    row: LedgerRow,
    status: 'sent' | 'pending' | 'failed' | 'suppressed' | 'deferred',
    outcome: { provider?: string; providerMessageId?: string; error?: unknown; reason?: string; templateVersion?: string; notBefore?: Date; message?: OutboundMessage },
    attempts: FailoverResult['attempts'] = [],
  ): Promise<undefined> {
    const attempted = status === 'sent' || status === 'pending' || (status === 'failed' && outcome.reason !== 'template');
    const db = this.options.db;
    const update = db('delivery_ledger')
      .where({ id: row.id })
      .update({
        status,
        provider: outcome.provider ?? null,
        provider_message_id: outcome.providerMessageId ?? null,
        attempts: row.attempts + (attempted ? 1 : 0),
        error: outcome.error === undefined ? null : describe(outcome.error).slice(0, 2000),
        // A sent row keeps why it was planned (e.g. `fallback_from_push`); others say why not sent.
        ...(status === 'sent' && outcome.reason === undefined ? {} : { reason: outcome.reason ?? null }),
        template_version: outcome.templateVersion ?? null,
        not_before: outcome.notBefore ?? null,
        message: outcome.message === undefined ? null : JSON.stringify(outcome.message),
        updated_at: new Date(),
      });
    if (attempts.length === 0) {
      await update;
    } else {
      // The provider attempts and the row's outcome in one statement: one round trip, and a
      // retried write (database outage) cannot record the attempts twice.
      const insert = db('delivery_attempts').insert(attemptRows(row.id, attempts)).toSQL();
      const main = update.toSQL();
      await db.raw(`WITH recorded_attempts AS (${insert.sql}) ${main.sql}`, [...insert.bindings, ...main.bindings]);
    }
    if (status === 'sent') this.stats.sent++;
    else if (status === 'suppressed') this.stats.suppressed++;
    else if (status === 'deferred') this.stats.deferred++;
    else if (status === 'failed') this.stats.failed++;
    return undefined;
  }

  private now(): Date {
    return this.options.clock ? this.options.clock() : new Date();
  }
}

function addressesOf(channel: ChannelName, event: EventMap[EventType], tokens: string[]): string[] {
  switch (channel) {
    case 'email':
      return [event.recipient.email.toLowerCase()];
    case 'sms':
      return event.recipient.phone ? [event.recipient.phone] : [];
    case 'push':
      return tokens;
    case 'in_app':
      return [event.user_id];
  }
}

async function activeTokens(trx: Trx, userIds: string[]): Promise<Map<string, string[]>> {
  const rows: Array<{ user_id: string; token: string }> = await trx('device_tokens').whereIn('user_id', [...new Set(userIds)]).whereNull('dead_at').select('user_id', 'token');
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), r.token]);
  return out;
}

function receiptRow(p: PaymentSucceeded): Record<string, unknown> {
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

async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}
