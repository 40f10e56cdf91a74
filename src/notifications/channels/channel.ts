/**
 * The four notification channels and what every provider adapter behind them implements.
 * A provider is one way to reach a channel (two SMTP relays, two Twilio accounts…); the
 * failover layer tries them in order.
 */
export type ChannelName = 'email' | 'sms' | 'push' | 'in_app';

export const CHANNELS: readonly ChannelName[] = ['email', 'sms', 'push', 'in_app'];

export interface OutboundMessage {
  channel: ChannelName;
  /** Event the message is about; with channel and recipient it identifies the delivery. */
  eventId: string;
  userId: string;
  /** Address on the channel: email address, E.164 phone number, device token or user id (in-app). */
  recipient: string;
  /** Email subject, push/in-app title. */
  title: string;
  /** Plain text body (SMS text, push body, email text part, in-app body). */
  text: string;
  /** Email HTML part. */
  html?: string;
  /** Small key/value data for push and in-app (e.g. payment id, deep link). */
  data?: Record<string, string>;
  /** Stable id of this delivery, so a copy sent again can be recognised (Message-ID, idempotency keys). */
  idempotencyKey: string;
}

export interface ProviderReceipt {
  providerMessageId: string;
}

export interface Provider {
  /** Name recorded in the delivery ledger, e.g. `smtp-primary`, `twilio-backup`. */
  readonly name: string;
  readonly channel: ChannelName;
  /**
   * Sends one message. Throws ProviderError (retriable or not) for provider failures and
   * RecipientUnreachableError when the address itself is dead (e.g. an unregistered push token).
   */
  send(message: OutboundMessage): Promise<ProviderReceipt>;
  close?(): Promise<void> | void;
}
