import type { DataKeyStore } from '../crypto/data-key-store';
import type { Db } from '../db/database';
import { ProviderError, TidingsError, describe } from '../errors';
import type { OutboundMessage, Provider, ProviderReceipt } from '../notifications/channels/channel';
import { ATTR, inClientSpan } from '../observability/tracing';
import { InAppStore, type NewInAppNotification } from './in-app-store';

/** The span name of storing an in-app notification (the in-app channel's "send"). */
export const IN_APP_WRITE = 'in_app write';

/**
 * Key of OutboundMessage.data that names the notification's kind; without it the kind is
 * `data.eventType` (what the notification handler sets), else `notification`.
 */
export const IN_APP_KIND_KEY = 'kind';

/** The stored form of an in-app message; for in-app the recipient address is the user id. */
export function inAppNotificationOf(message: OutboundMessage): NewInAppNotification {
  const { [IN_APP_KIND_KEY]: kind, ...data } = message.data ?? {};
  return { userId: message.recipient, eventId: message.eventId, kind: kind ?? data.eventType ?? 'notification', title: message.title, body: message.text, data };
}

/**
 * The in-app channel's provider: "sending" is adding the notification to the user's in-app
 * inbox. Idempotent per (event, user), so a retried delivery shows one notification.
 */
export class InAppProvider implements Provider {
  readonly channel = 'in_app' as const;

  readonly name: string;
  private readonly store: InAppStore;

  constructor(private readonly options: { db: Db; name?: string; dataKeys?: DataKeyStore }) {
    this.name = options.name ?? 'in-app';
    this.store = new InAppStore(options.db, options.dataKeys);
  }

  async send(message: OutboundMessage): Promise<ProviderReceipt> {
    if (message.channel !== 'in_app') {
      throw new ProviderError(this.name, `cannot send on channel ${message.channel}`, { retriable: false });
    }
    return inClientSpan(IN_APP_WRITE, { [ATTR.channel]: 'in_app', [ATTR.provider]: this.name }, async (span) => {
      try {
        const { notification } = await this.store.add(this.options.db, inAppNotificationOf(message));
        span.setAttribute(ATTR.providerMessageId, `in_app:${notification.id}`);
        return { providerMessageId: `in_app:${notification.id}` };
      } catch (error) {
        if (error instanceof TidingsError) throw error;
        // PostgreSQL data errors (class 22/23: a malformed event id…) will fail again; anything
        // else, such as the database being unreachable, may succeed on the next attempt.
        const code = (error as { code?: unknown }).code;
        const permanent = typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
        throw new ProviderError(this.name, `could not store the notification: ${describe(error)}`, { retriable: !permanent, cause: error });
      }
    });
  }
}
