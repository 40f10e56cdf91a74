import type { Db, Trx } from '../db/database';
import type { OutboundMessage } from '../notifications/channels/channel';
import type { TransactionalChannelSender } from '../notifications/channels/channel-sender';
import { FailoverProvider, type FailoverResult } from '../notifications/providers/failover';
import { InAppProvider, inAppNotificationOf } from './in-app-provider';
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

  constructor(options: { db: Db; name?: string }) {
    const provider = new InAppProvider(options);
    this.providerName = provider.name;
    this.store = new InAppStore(options.db);
    this.single = new FailoverProvider({ channel: 'in_app', providers: [provider] });
  }

  async deliverInTransaction(trx: Trx, messages: OutboundMessage[]): Promise<string[]> {
    const ids = await this.store.addMany(trx, messages.map(inAppNotificationOf));
    return ids.map((id) => `in_app:${id}`);
  }

  sendWithAttempts(message: OutboundMessage): Promise<FailoverResult> {
    return this.single.sendWithAttempts(message);
  }
}
