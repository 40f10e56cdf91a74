import { PAYMENT_EVENT_TYPES } from '../../src/events/generated';
import type { Publisher } from '../../src/producer/publisher';
import { createTypedProducer, type TypedProducer } from '../typed-producer';

export type PaymentEventType = (typeof PAYMENT_EVENT_TYPES)[number];
export type PaymentProducer = TypedProducer<PaymentEventType>;

/**
 * For payment services: `payments.paymentSucceeded({...})`, `payments.refundProcessed({...})`, …
 * each validated against its schema and published to `payment.events` keyed by user id.
 */
export function createPaymentProducer(publisher: Publisher): PaymentProducer {
  return createTypedProducer(publisher, PAYMENT_EVENT_TYPES);
}
