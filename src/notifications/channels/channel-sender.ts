import type { Trx } from '../../db/database';
import type { FailoverResult } from '../providers/failover';
import type { OutboundMessage } from './channel';

/** What delivery needs of a channel: send with failover and report every attempt. */
export interface ChannelSender {
  sendWithAttempts(message: OutboundMessage): Promise<FailoverResult>;
}

/**
 * A channel whose delivery is a database write (in-app): its messages are stored in the
 * effects transaction itself, so they are delivered exactly once with the event's other
 * effects, with no send after the commit and no duplicate window.
 */
export interface TransactionalChannelSender extends ChannelSender {
  readonly providerName: string;
  /** Stores every message in `trx`; returns the provider message id per message, in order. */
  deliverInTransaction(trx: Trx, messages: OutboundMessage[]): Promise<string[]>;
}

export function isTransactional(sender: ChannelSender | undefined): sender is TransactionalChannelSender {
  return sender !== undefined && typeof (sender as Partial<TransactionalChannelSender>).deliverInTransaction === 'function';
}
