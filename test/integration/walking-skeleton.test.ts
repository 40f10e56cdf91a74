import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { createAuthProducer } from '../../producers/auth';
import { createPaymentProducer } from '../../producers/payment';
import { LegalRecords, verifyLegalRecord } from '../../src/legal/legal-records';
import { EventValidationError } from '../../src/errors';
import { getEventDefinition } from '../../src/events/catalog';
import { EVENT_TYPES, type PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { subjectFor } from '../../src/registry/event-registry';
import { javaPartitionsFor } from '../helpers/java-partitioner';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

describe('walking skeleton: SDK → Kafka → notification consumer → PostgreSQL + SMTP', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let consumer: NotificationConsumer;

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification') });
  });

  afterAll(async () => {
    await consumer?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  const sentRows = (eventId: string) => ctx.db('delivery_ledger').where({ event_id: eventId, channel: 'email', status: 'sent' });

  it('delivers every event type as an email to its recipient, and stores a receipt per successful payment', async () => {
    const published = EVENT_TYPES.map((type, i) => {
      const event = sampleEvent(type, { user_id: `user-all-${i}` } as never);
      event.recipient = { ...event.recipient, email: `all-types-${i}@example.com` };
      return { type, event };
    });
    await Promise.all(published.map(({ type, event }) => publisher.publish(type, event)));

    await ctx.mail.waitFor((all) => published.every((p) => all.some((m) => m.to.includes(p.event.recipient.email))), 60_000);
    for (const { type, event } of published) {
      const [mail] = ctx.mail.to(event.recipient.email);
      expect(mail?.headers['x-tidings-event-type']).toBe(type);
      expect(mail?.subject.length).toBeGreaterThan(3);
      expect(mail?.text).toContain(event.recipient.name ?? '');
      expect(mail?.html).toContain('<');
      await waitFor(`ledger row of ${type}`, async () => (await sentRows(event.event_id)).length === 1);
    }
    const subjects = new Set(published.map((p) => ctx.mail.to(p.event.recipient.email)[0]?.subject.replace(/\d+/g, '')));
    expect(subjects.size).toBe(EVENT_TYPES.length);

    const payment = published.find((p) => p.type === 'PAYMENT_SUCCEEDED')?.event as PaymentSucceeded;
    const receipts = await ctx.db('receipts').where({ event_id: payment.event_id });
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({
      payment_id: payment.payment_id,
      user_id: payment.user_id,
      amount_minor: String(payment.amount.amount_minor),
      currency: payment.amount.currency,
    });
    // The legal copy: append-only, content-hashed, found by payment id and by user.
    const legal = new LegalRecords(ctx.db);
    const [record] = await legal.byPaymentId(payment.payment_id);
    expect(record).toMatchObject({ kind: 'receipt', eventId: payment.event_id, userId: payment.user_id });
    expect(verifyLegalRecord(record!)).toBe(true);
    expect((await legal.byUser(payment.user_id)).map((r) => r.eventId)).toContain(payment.event_id);
    const receiptMail = ctx.mail.to(payment.recipient.email)[0];
    expect(receiptMail?.text).toContain(payment.payment_id);
    expect(await ctx.db('receipts').count('* as n').first()).toEqual({ n: '1' });
  });

  it('turns the same event published twice into one receipt and one email', async () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-twice' });
    event.recipient = { ...event.recipient, email: 'twice@example.com' };
    const payments = createPaymentProducer(publisher);
    await payments.paymentSucceeded(event);
    await payments.paymentSucceeded(event);
    // A later event of the same user proves both copies have been consumed (same partition, in order).
    const marker = sampleEvent('PAYMENT_FAILED', { user_id: 'user-twice' });
    marker.recipient = { ...marker.recipient, email: 'twice-marker@example.com' };
    await payments.paymentFailed(marker);

    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('twice-marker@example.com')));
    await waitFor('marker recorded', async () => (await sentRows(marker.event_id)).length === 1);
    expect(ctx.mail.to('twice@example.com')).toHaveLength(1);
    expect(await ctx.db('receipts').where({ event_id: event.event_id })).toHaveLength(1);
    expect(await ctx.db('inbox').where({ event_id: event.event_id })).toHaveLength(1);
    expect(consumer.runtime.stats.duplicates).toBeGreaterThanOrEqual(1);
  });

  it('registers one subject per event type, and the wire format is key=user id, magic byte 0, a registry-resolvable schema id', async () => {
    const response = await fetch(`${ctx.platform.endpoints.schemaRegistryUrl}/subjects`);
    const subjects = (await response.json()) as string[];
    for (const type of EVENT_TYPES) {
      const def = getEventDefinition(type);
      expect(subjects).toContain(subjectFor(ctx.topics[def.domain], def));
    }
    const config = await (await fetch(`${ctx.platform.endpoints.schemaRegistryUrl}/config/${encodeURIComponent(subjectFor(ctx.topics.auth, getEventDefinition('USER_REGISTERED')))}`)).json();
    expect(config).toEqual({ compatibilityLevel: 'BACKWARD' });

    const auth = createAuthProducer(publisher);
    const sent = sampleEvent('USER_REGISTERED', { user_id: 'user-wire' });
    await auth.userRegistered(sent);

    const raw = ctx.platform.kafka.consumer({ groupId: ctx.groupId('raw-inspector') });
    await raw.connect();
    await raw.subscribe({ topic: ctx.topics.auth, fromBeginning: true });
    const seen = await new Promise<{ key: string; value: Buffer; headers: Record<string, unknown> }>((resolve) => {
      void raw.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() === 'user-wire' && message.value) {
            resolve({ key: message.key.toString(), value: message.value, headers: message.headers ?? {} });
          }
        },
      });
    });
    await raw.disconnect();

    expect(seen.key).toBe(sent.user_id);
    expect(seen.value[0]).toBe(0);
    const schemaId = seen.value.readInt32BE(1);
    const schema = (await (await fetch(`${ctx.platform.endpoints.schemaRegistryUrl}/schemas/ids/${schemaId}`)).json()) as { schema: string };
    expect(JSON.parse(schema.schema)).toMatchObject({ name: 'UserRegistered', namespace: 'tidings.auth' });
    expect(String(seen.headers.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const decoded = await ctx.platform.registry.decode(seen.value);
    expect(decoded.payload.event_id).toBe(sent.event_id);
  });

  it('places a user’s events on the partition the Java client would choose (murmur2)', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `partition-user-${i}`);
    const results = await Promise.all(users.map((u) => publisher.publish('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { user_id: u }))));
    const javaPartitions = javaPartitionsFor(users, 3);
    expect(results.map((r) => r.partition)).toEqual(javaPartitions);
  });

  it('keeps consuming after a message of garbage bytes on payment.events', async () => {
    const producer = ctx.platform.kafka.producer();
    await producer.connect();
    await producer.send({ topic: ctx.topics.payment, messages: [{ key: 'user-garbage', value: Buffer.from('definitely not avro \x00\x01') }] });
    await producer.send({ topic: ctx.topics.payment, messages: [{ key: 'user-garbage', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0x00, 1, 2]) }] });
    await producer.disconnect();
    const after = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-garbage' });
    after.recipient = { ...after.recipient, email: 'after-garbage@example.com' };
    await publisher.publish('PAYMENT_SUCCEEDED', after);

    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('after-garbage@example.com')));
    expect(await ctx.db('receipts').where({ event_id: after.event_id })).toHaveLength(1);
    expect(consumer.runtime.stats.malformed).toBeGreaterThanOrEqual(2);
  });

  it('refuses invalid events with an error naming the field, and publishes nothing', async () => {
    const endOffsets = async (): Promise<string[]> => {
      const admin = ctx.platform.kafka.admin();
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(ctx.topics.payment).finally(() => admin.disconnect());
      return offsets.sort((a, b) => a.partition - b.partition).map((o) => o.high);
    };
    await publisher.flush();
    const before = await endOffsets();

    const negative = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-invalid' });
    negative.amount = { ...negative.amount, amount_minor: -500 };
    await expect(publisher.publish('PAYMENT_SUCCEEDED', negative)).rejects.toThrow(EventValidationError);
    await expect(publisher.publish('PAYMENT_SUCCEEDED', negative)).rejects.toMatchObject({ field: 'amount.amount_minor' });

    const noEmail = sampleEvent('PAYMENT_FAILED', { user_id: 'user-invalid' });
    const { email: _dropped, ...recipientWithoutEmail } = noEmail.recipient;
    await expect(publisher.publish('PAYMENT_FAILED', { ...noEmail, recipient: recipientWithoutEmail } as never)).rejects.toMatchObject({
      field: 'recipient.email',
    });

    await publisher.flush();
    expect(await endOffsets()).toEqual(before);
  });
});
