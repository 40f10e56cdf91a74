import type { Db, Trx } from '../db/database';
import { TidingsError, describe } from '../errors';
import { faultPoint } from '../observability/fault-injection';
import type { EventMap, EventType, PaymentSucceeded } from '../events/generated';
import type { DeliveryFailure, EventHandler } from '../consumer/event-handler';
import type { EventRecord } from '../consumer/messages';
import { createLogger, type Logger } from '../observability/logger';
import { renderEmail } from './email/render';
import type { SmtpMailer } from './email/smtp-mailer';

export interface NotificationHandlerOptions {
  db: Db;
  mailer: SmtpMailer;
  /** Concurrent provider sends per chunk. Default 16. */
  sendConcurrency?: number;
  logger?: Logger;
}

export interface NotificationStats {
  emailsSent: number;
  receiptsStored: number;
}

interface LedgerRow {
  id: string;
  event_id: string;
  channel: string;
  recipient: string;
  attempts: number;
}

/**
 * Turns events into notifications. In the effects transaction it stores a receipt per
 * PAYMENT_SUCCEEDED and a `pending` ledger row per (event, channel, recipient); after the
 * commit it sends what is pending and marks it `sent`. A redelivered event finds its ledger
 * row already `sent` and sends nothing; the only duplicate left is a crash between the
 * provider accepting and the ledger update (documented in the README).
 */
export class NotificationHandler implements EventHandler {
  readonly stats: NotificationStats = { emailsSent: 0, receiptsStored: 0 };
  private readonly logger: Logger;
  private readonly messageIdDomain: string;

  constructor(private readonly options: NotificationHandlerOptions) {
    this.logger = options.logger ?? createLogger('notifications');
    this.messageIdDomain = /@([A-Za-z0-9.-]+)/.exec(options.mailer.from)?.[1] ?? 'tidings.local';
  }

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    const receipts = events.filter((e) => e.type === 'PAYMENT_SUCCEEDED').map((e) => receiptRow(e.payload as unknown as PaymentSucceeded));
    if (receipts.length > 0) {
      await trx('receipts').insert(receipts).onConflict('event_id').ignore();
      this.stats.receiptsStored += receipts.length;
    }
    const ledger = events.map((e) => ({
      event_id: e.eventId,
      event_type: e.type,
      channel: 'email',
      recipient: recipientEmail(e),
      status: 'pending',
    }));
    await trx('delivery_ledger').insert(ledger).onConflict(['event_id', 'channel', 'recipient']).ignore();
  }

  async deliver(events: EventRecord[]): Promise<DeliveryFailure[]> {
    const byId = new Map(events.map((e) => [e.eventId, e]));
    const pending: LedgerRow[] = await this.options.db('delivery_ledger')
      .whereIn('event_id', [...byId.keys()])
      .andWhere({ status: 'pending' })
      .select('id', 'event_id', 'channel', 'recipient', 'attempts');
    const failures: DeliveryFailure[] = [];
    await forEachLimited(pending, this.options.sendConcurrency ?? 16, async (row) => {
      const event = byId.get(row.event_id);
      if (!event) return;
      const error = await this.sendEmail(row, event);
      if (error !== undefined) failures.push({ eventId: row.event_id, error });
    });
    return failures;
  }

  /** Sends one pending email and records the outcome; returns the provider's error, if any. */
  private async sendEmail(row: LedgerRow, event: EventRecord): Promise<unknown> {
    const started = Date.now();
    let content;
    try {
      content = renderEmail(event.type, event.payload as unknown as EventMap[EventType]);
    } catch (error) {
      await this.recordAttempt(row, 'failed', { error });
      return error;
    }
    try {
      const { messageId } = await this.options.mailer.send({
        to: row.recipient,
        ...content,
        headers: { 'X-Tidings-Event-Id': event.eventId, 'X-Tidings-Event-Type': event.type },
        messageId: `<${event.eventId}.${row.channel}@${this.messageIdDomain}>`,
      });
      faultPoint('notification.after-provider-accepted');
      await this.recordAttempt(row, 'sent', { messageId });
      this.stats.emailsSent++;
      this.logger.debug({ eventId: event.eventId, type: event.type, ms: Date.now() - started }, 'email sent');
      return undefined;
    } catch (error) {
      if (!(error instanceof TidingsError)) throw error;
      // A rejected address will not be accepted later; anything else stays pending for a retry.
      await this.recordAttempt(row, error.retriable ? 'pending' : 'failed', { error });
      this.logger.warn({ eventId: event.eventId, type: event.type, code: error.code, error: error.message }, 'email not sent');
      return error;
    }
  }

  private async recordAttempt(row: LedgerRow, status: 'sent' | 'pending' | 'failed', outcome: { messageId?: string; error?: unknown }): Promise<void> {
    await this.options.db('delivery_ledger')
      .where({ id: row.id })
      .update({
        status,
        provider: this.options.mailer.name,
        provider_message_id: outcome.messageId ?? null,
        attempts: row.attempts + 1,
        error: outcome.error === undefined ? null : describe(outcome.error).slice(0, 2000),
        updated_at: new Date(),
      });
  }
}

function recipientEmail(event: EventRecord): string {
  const recipient = event.payload.recipient as { email?: unknown } | undefined;
  return typeof recipient?.email === 'string' ? recipient.email.toLowerCase() : '';
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
