import { ConfigResourceTypes } from 'kafkajs';
import { startNotificationConsumer } from '../../consumers/notification';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { dlqTopic, retryTopic, type RetryTopology } from '../../src/consumer/retry-topology';
import { CardDataError } from '../../src/errors';
import type { PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings } from '../helpers/tidings-cli';
import { countRecords, readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const DAY_MS = 24 * 60 * 60 * 1000;
// A Luhn-valid test number (Visa's), written the ways a person types it.
const CARD = '4111111111111111';
const SPACED = '4111 1111 1111 1111';
const DASHED = '4111-1111-1111-1111';

function paymentWith(user: string, email: string, description: string): PaymentSucceeded {
  const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
  return { ...event, recipient: { ...event.recipient, email }, items: [{ sku: 'GIFT-1', description, quantity: 1, unit_amount_minor: 500 }] };
}

/** The error a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** Every form the card number could take in bytes: plain, spaced, dashed, and any 12 of its digits in a row. */
function cardTraces(bytes: string): string[] {
  return [CARD, SPACED, DASHED, CARD.slice(0, 12)].filter((form) => bytes.includes(form));
}

describe('PCI: no card number is sent, kept or dead-lettered', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.dispose());

  it('the publisher and the outbox refuse a card number in a free-text field and a cvv field, naming the field and never the value, and send nothing', async () => {
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    const outbox = ctx.platform.createOutbox();
    try {
      const spaced = paymentWith('user-pci-1', 'pci-1@example.com', `gift card, paid with ${SPACED}`);
      const dashed = paymentWith('user-pci-1', 'pci-1@example.com', `paid with ${DASHED} thanks`);
      const cvv = { ...sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-pci-1' }), cvv: '737' } as PaymentSucceeded;

      const refusals = [
        await rejection(publisher.publish('PAYMENT_SUCCEEDED', spaced)),
        await rejection(publisher.publish('PAYMENT_SUCCEEDED', dashed)),
        await rejection(publisher.publish('PAYMENT_SUCCEEDED', cvv)),
        await rejection(ctx.db.transaction((trx) => outbox.enqueue(trx, 'PAYMENT_SUCCEEDED', spaced))),
        await rejection(ctx.db.transaction((trx) => outbox.enqueue(trx, 'PAYMENT_SUCCEEDED', dashed))),
        await rejection(ctx.db.transaction((trx) => outbox.enqueue(trx, 'PAYMENT_SUCCEEDED', cvv))),
      ];
      expect(refusals.map((e) => e instanceof CardDataError && { code: e.code, field: e.field })).toEqual([
        { code: 'CARD_DATA_REFUSED', field: 'items[0].description' },
        { code: 'CARD_DATA_REFUSED', field: 'items[0].description' },
        { code: 'CARD_DATA_REFUSED', field: 'cvv' },
        { code: 'CARD_DATA_REFUSED', field: 'items[0].description' },
        { code: 'CARD_DATA_REFUSED', field: 'items[0].description' },
        { code: 'CARD_DATA_REFUSED', field: 'cvv' },
      ]);
      for (const error of refusals) {
        const message = (error as Error).message;
        expect(cardTraces(message)).toEqual([]);
        expect(message).not.toContain('737');
        expect(message).toMatch(/^PAYMENT_SUCCEEDED: field "(items\[0\]\.description|cvv)"/);
      }

      // Nothing left the SDK: an event published afterwards is the topic's only record, and the outbox is empty.
      await publisher.publish('PAYMENT_SUCCEEDED', paymentWith('user-pci-1', 'pci-1@example.com', 'a plain gift card'));
      expect(await countRecords(ctx.platform.kafka, ctx.topics.payment)).toBe(1);
      expect(await ctx.db('outbox').count({ n: '*' }).first()).toEqual({ n: '0' });
    } finally {
      await publisher.disconnect();
    }
  });

  it('a consumer dead-letters a record produced around the SDK with a card number, with the number masked in the DLQ record, and delivers nothing for it', async () => {
    const groupId = ctx.groupId('pci-consumer');
    const consumer = await startNotificationConsumer(ctx.platform, { groupId, retryDelaysMs: [1_000] });
    const raw = ctx.platform.kafka.producer();
    await raw.connect();
    try {
      // Encoded with the registry's framing but no SDK check, as a service in another language could.
      const leaked = paymentWith('user-pci-2', 'pci-2@example.com', `card ${DASHED} on file`);
      const value = await ctx.platform.registry.encode('PAYMENT_SUCCEEDED', ctx.topics.payment, leaked);
      expect(value.toString('latin1')).toContain(DASHED);
      await raw.send({ topic: ctx.topics.payment, messages: [{ key: leaked.user_id, value, headers: { 'x-note': `paid by ${SPACED}` } }] });
      const after = paymentWith('user-pci-2', 'pci-2-after@example.com', 'a plain gift card');
      await raw.send({ topic: ctx.topics.payment, messages: [{ key: after.user_id, value: await ctx.platform.registry.encode('PAYMENT_SUCCEEDED', ctx.topics.payment, after) }] });
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('pci-2-after@example.com')));

      const dlq = dlqTopic({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [1_000] }, ctx.topics.payment);
      await waitFor('the dead letter', async () => (await countRecords(ctx.platform.kafka, dlq)) === 1);
      const [dead] = await readTopic(ctx.platform.kafka, dlq);
      const bytes = [dead?.key ?? '', dead?.value?.toString('latin1') ?? '', ...Object.entries(dead?.headers ?? {}).flat()].join('\n');
      expect(cardTraces(bytes)).toEqual([]);
      expect(dead?.headers).toMatchObject({
        [FAILURE_HEADERS.errorCode]: 'CARD_DATA_REFUSED',
        [FAILURE_HEADERS.errorClass]: 'CardDataError',
        [FAILURE_HEADERS.valueMasked]: 'card numbers masked in items[0].description',
        'x-note': 'paid by **** **** **** 1111',
      });
      expect(dead?.headers[FAILURE_HEADERS.errorMessage]).toContain('field "items[0].description" holds a card number');
      // Still the event, readable through the registry, with the last four digits only.
      const decoded = await ctx.platform.registry.decode(dead?.value ?? null);
      expect(decoded.payload).toMatchObject({ event_id: leaked.event_id, items: [{ description: 'card ****-****-****-1111 on file' }] });

      expect(ctx.mail.to('pci-2@example.com')).toEqual([]);
      expect(await ctx.db('delivery_ledger').where({ event_id: leaked.event_id })).toEqual([]);
      expect(consumer.runtime.stats.malformed).toBe(1);
    } finally {
      await raw.disconnect();
      await consumer.stop();
    }
  });

  it('`tidings topics create` sets the short retention on payment.events, its retry tiers and DLQ, existing ones included, and workers keep it', async () => {
    const topology: RetryTopology = { name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [1_000, 60_000] };
    const groupId = ctx.groupId('pci-retention');
    // A worker has run: its tiers and DLQs exist, with the payment topic's default retention (7 days).
    const first = await startNotificationConsumer(ctx.platform, { groupId, retryDelaysMs: topology.delaysMs });
    await first.stop();
    const paymentCopies = [retryTopic(topology, ctx.topics.payment, 1), retryTopic(topology, ctx.topics.payment, 2), dlqTopic(topology, ctx.topics.payment)];
    expect(await retentions([ctx.topics.payment, ...paymentCopies])).toEqual([7 * DAY_MS, 7 * DAY_MS, 7 * DAY_MS, 7 * DAY_MS]);

    const env = {
      KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
      DATABASE_URL: ctx.databaseUrl,
      TIDINGS_TOPIC_PREFIX: `${ctx.id}.`,
    };
    const bad = await runTidings(['topics', 'create', '--partitions', '3'], { ...env, TIDINGS_PAYMENT_RETENTION: 'two days' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('TIDINGS_PAYMENT_RETENTION');

    const run = await runTidings(['topics', 'create', '--partitions', '3'], { ...env, TIDINGS_PAYMENT_RETENTION: '2d' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${ctx.topics.payment} keeps records for 2d`);
    expect(await retentions([ctx.topics.payment, ...paymentCopies])).toEqual([2 * DAY_MS, 2 * DAY_MS, 2 * DAY_MS, 2 * DAY_MS]);
    // auth.events has no retention of its own: its DLQ keeps its records until they are reviewed.
    expect(await retentions([dlqTopic(topology, ctx.topics.auth), retryTopic(topology, ctx.topics.auth, 1)])).toEqual([-1, 7 * DAY_MS]);

    // A worker starting afterwards keeps the short retention, and a new group's topics get it at once.
    const again = await startNotificationConsumer(ctx.platform, { groupId, retryDelaysMs: topology.delaysMs });
    await again.stop();
    const other = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('pci-retention-bulk'), lane: 'bulk', retryDelaysMs: [1_000] });
    await other.stop();
    const bulk: RetryTopology = { name: 'notification-bulk', sources: topology.sources, delaysMs: [1_000] };
    expect(await retentions([...paymentCopies, retryTopic(bulk, ctx.topics.payment, 1), dlqTopic(bulk, ctx.topics.payment)])).toEqual([2 * DAY_MS, 2 * DAY_MS, 2 * DAY_MS, 2 * DAY_MS, 2 * DAY_MS]);
  });

  async function retentions(topics: string[]): Promise<number[]> {
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })) });
      return topics.map((topic) => Number(resources.find((r) => r.resourceName === topic)?.configEntries[0]?.configValue));
    } finally {
      await admin.disconnect();
    }
  }
});
