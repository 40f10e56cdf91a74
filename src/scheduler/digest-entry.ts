import type { EventMap, Money, PAYMENT_EVENT_TYPES } from '../events/generated';

export type PaymentEventType = (typeof PAYMENT_EVENT_TYPES)[number];

/**
 * How a payment event counts in the daily digest. `charge` and `refund` move money and are
 * totalled per currency; the others are listed with their amount but move nothing.
 */
export type DigestEntryKind = 'charge' | 'refund' | 'failed' | 'disputed' | 'invoice' | 'subscription';

export interface DigestLine {
  kind: DigestEntryKind;
  /** The id a user finds on their statement or invoice. */
  reference: string;
  amount: Money | null;
}

type Describe = { [K in PaymentEventType]: (event: EventMap[K]) => DigestLine };

// Keyed by every payment event type, so a new one fails compilation until it is placed here.
const LINES: Describe = {
  PAYMENT_SUCCEEDED: (e) => ({ kind: 'charge', reference: e.payment_id, amount: e.amount }),
  SUBSCRIPTION_RENEWED: (e) => ({ kind: 'charge', reference: e.payment_id, amount: e.amount }),
  REFUND_PROCESSED: (e) => ({ kind: 'refund', reference: e.refund_id, amount: e.amount }),
  PAYMENT_FAILED: (e) => ({ kind: 'failed', reference: e.payment_id, amount: e.amount }),
  PAYMENT_DISPUTED: (e) => ({ kind: 'disputed', reference: e.dispute_id, amount: e.amount }),
  INVOICE_GENERATED: (e) => ({ kind: 'invoice', reference: e.invoice_id, amount: e.amount }),
  SUBSCRIPTION_CREATED: (e) => ({ kind: 'subscription', reference: e.subscription_id, amount: null }),
  SUBSCRIPTION_CANCELLED: (e) => ({ kind: 'subscription', reference: e.subscription_id, amount: null }),
};

export function digestLineOf<K extends PaymentEventType>(type: K, event: EventMap[K]): DigestLine {
  return LINES[type](event);
}

export function isPaymentEventType(type: string): type is PaymentEventType {
  return Object.prototype.hasOwnProperty.call(LINES, type);
}
