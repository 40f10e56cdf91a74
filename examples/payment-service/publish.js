#!/usr/bin/env node
// @ts-check
'use strict';
// node publish.js <userId> <email>: reports two charges of one customer, one captured and one
// declined, through Tidings; prints one JSON line per published event.
const { Platform, TidingsError } = require('tidings');
const { createPaymentProducer } = require('tidings/producers/payment');
const { publishCharge } = require('./charges');

/** @param {string} userId @param {string} email @returns {import('./charges').Charge[]} */
function sampleCharges(userId, email) {
  const customer = { email, name: 'Sample Customer', locale: 'en-US' };
  const order = `ord_${Date.now()}`;
  return [
    {
      id: `pay_${order}_1`, orderId: order, userId, customer, amountMinor: 4200, currency: 'EUR', cardLast4: '4242', status: 'succeeded',
      items: [{ sku: 'BK-PRAG-PROG', description: 'The Pragmatic Programmer (hardcover)', quantity: 1, unit_amount_minor: 4200 }],
    },
    {
      id: `pay_${order}_2`, orderId: `${order}-2`, userId, customer, amountMinor: 12900, currency: 'EUR', cardLast4: '0341', status: 'failed',
      failureCode: 'insufficient_funds', failureMessage: 'Your card has insufficient funds.',
    },
  ];
}

async function main() {
  const [userId, email] = process.argv.slice(2);
  if (!userId || !email) {
    process.stderr.write('usage: node publish.js <userId> <email>\n');
    return 2;
  }
  // Kafka and the schema registry from the environment (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, …).
  const platform = new Platform({ clientId: 'payment-service' });
  const publisher = platform.createPublisher();
  await publisher.connect();
  try {
    const payments = createPaymentProducer(publisher);
    const links = { shopUrl: process.env.SHOP_URL ?? 'https://shop.example.com' };
    for (const charge of sampleCharges(userId, email)) {
      const result = await publishCharge(payments, charge, links);
      process.stdout.write(`${JSON.stringify({ charge: charge.id, status: charge.status, ...result })}\n`);
    }
  } finally {
    await publisher.disconnect();
    await platform.close();
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    // A TidingsError names what is wrong (a bad env var, an invalid event, an unreachable broker).
    process.stderr.write(`payment-service: ${error instanceof TidingsError ? `${error.code}: ${error.message}` : error && error.stack}\n`);
    process.exitCode = 1;
  },
);
