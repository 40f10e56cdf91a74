// @ts-check
'use strict';
const { randomUUID } = require('node:crypto');

/**
 * A charge as this service's payment provider reports it (the fields a webhook carries).
 * @typedef {object} Charge
 * @property {string} id
 * @property {string} orderId
 * @property {string} userId
 * @property {{ email: string, name?: string, locale?: string }} customer
 * @property {number} amountMinor integer minor units (cents)
 * @property {string} currency ISO-4217 code
 * @property {string} cardLast4
 * @property {'succeeded' | 'failed'} status
 * @property {string} [failureCode] the provider's decline code, e.g. insufficient_funds
 * @property {string} [failureMessage] the provider's words for the customer
 * @property {import('tidings').LineItem[]} [items]
 */

/** @type {Readonly<Record<string, import('tidings').PaymentFailureReason>>} */
const FAILURE_REASONS = {
  insufficient_funds: 'INSUFFICIENT_FUNDS',
  expired_card: 'CARD_EXPIRED',
  card_declined: 'CARD_DECLINED',
  incorrect_cvc: 'INCORRECT_CVC',
  processing_error: 'PROCESSING_ERROR',
  fraudulent: 'FRAUD_SUSPECTED',
  authentication_required: 'AUTHENTICATION_REQUIRED',
};

/**
 * Tells the customer about a charge: PAYMENT_SUCCEEDED (with a receipt) or PAYMENT_FAILED.
 * The producer validates the event against its schema before anything is sent.
 * @param {import('tidings/producers/payment').PaymentProducer} payments
 * @param {Charge} charge
 * @param {{ shopUrl: string }} links
 * @returns {Promise<import('tidings').PublishResult>}
 */
function publishCharge(payments, charge, links) {
  const common = {
    event_id: randomUUID(),
    user_id: charge.userId,
    occurred_at: Date.now(),
    recipient: charge.customer,
    payment_id: charge.id,
    order_id: charge.orderId,
    amount: { amount_minor: charge.amountMinor, currency: charge.currency },
    card_last4: charge.cardLast4,
  };
  if (charge.status === 'succeeded') {
    return payments.paymentSucceeded({ ...common, items: charge.items ?? [], receipt_url: `${links.shopUrl}/orders/${charge.orderId}/receipt` });
  }
  return payments.paymentFailed({
    ...common,
    reason: FAILURE_REASONS[charge.failureCode ?? ''] ?? 'UNKNOWN',
    message: charge.failureMessage ?? 'Your payment could not be processed.',
    update_payment_url: `${links.shopUrl}/billing/payment-methods`,
  });
}

module.exports = { publishCharge };
