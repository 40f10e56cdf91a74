import { SpanKind } from '@opentelemetry/api';
import type { DataKeyStore } from '../crypto/data-key-store';
import type { Db, Trx } from '../db/database';
import type { OutboundMessage } from '../notifications/channels/channel';
import type { TransactionalChannelSender } from '../notifications/channels/channel-sender';
import { FailoverProvider, type FailoverResult } from '../notifications/providers/failover';
import { ATTR, failSpan, startSpansPerEvent } from '../observability/tracing';
import { IN_APP_WRITE, InAppProvider, inAppNotificationOf } from './in-app-provider';
import { InAppStore } from './in-app-store';

/**
 * The in-app channel of the notification group. Its messages are rows in PostgreSQL, so the
 * handler stores them in the event's effects transaction (`deliverInTransaction`): exactly
 * once, committed with the inbox entry, the receipt and the ledger row, many per statement.
 * `sendWithAttempts` is the one-at-a-time path for rows left pending by older versions.
 */
export class InAppChannel implements TransactionalChannelSender {
  readonly providerName: string;
  private readonly store: InAppStore;
  private readonly single: FailoverProvider;

  /** `dataKeys`: titles and bodies are then stored sealed with each user's data key (see InAppStore). */
  constructor(options: { db: Db; name?: string; dataKeys?: DataKeyStore }) {
    const provider = new InAppProvider(options);
    this.providerName = provider.name;
    this.store = new InAppStore(options.db, options.dataKeys);
    this.single = new FailoverProvider({ channel: 'in_app', providers: [provider] });
  }

  async deliverInTransaction(trx: Trx, messages: OutboundMessage[]): Promise<string[]> {
    // One statement for many events; each event's trace still shows its own write.
    const spans = startSpansPerEvent(IN_APP_WRITE, SpanKind.CLIENT, { [ATTR.channel]: 'in_app', [ATTR.provider]: this.providerName }, messages.map((m) => m.eventId));
    try {
      const ids = (await this.store.addMany(trx, messages.map(inAppNotificationOf))).map((id) => `in_app:${id}`);
      spans?.forEach((span, i) => span.setAttribute(ATTR.providerMessageId, ids[i] ?? ''));
      return ids;
    } catch (error) {
      for (const span of spans ?? []) failSpan(span, error);
      throw error;
    } finally {
      for (const span of spans ?? []) span.end();
    }
  }

  sendWithAttempts(message: OutboundMessage): Promise<FailoverResult> {
    return this.single.sendWithAttempts(message);
  }
}
