import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { dlqTopic, retryTopic } from '../../src/consumer/retry-topology';
import type { EventType, PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords, readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/** Each scenario gets its own topics, database, SMTP server and consumer group. */
async function setUp(retryDelaysMs: number[]): Promise<{ ctx: TestContext; publisher: Publisher; consumer: NotificationConsumer; close(): Promise<void> }> {
  const ctx = await createTestContext();
  const publisher = ctx.platform.createPublisher();
  await publisher.connect();
  const consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification'), retryDelaysMs });
  return {
    ctx,
    publisher,
    consumer,
    async close() {
      await consumer.stop();
      await publisher.disconnect();
      await ctx.dispose();
    },
  };
}

function paymentFor(user: string, email: string, amountMinor = 1999): PaymentSucceeded {
  const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
  return { ...event, recipient: { ...event.recipient, email }, amount: { amount_minor: amountMinor, currency: 'EUR' } };
}

const topology = (ctx: TestContext) => ({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] });

describe('failure handling: retry tiers and the DLQ', () => {
  it('sends a garbage message straight to the DLQ with its reason, without any retry record', async () => {
    const { ctx, publisher, consumer, close } = await setUp([500, 1000]);
    try {
      const raw = ctx.platform.kafka.producer();
      await raw.connect();
      await raw.send({ topic: ctx.topics.payment, messages: [{ key: 'user-garbage', value: Buffer.from('{"not":"avro"}') }] });
      await raw.disconnect();
      const after = paymentFor('user-garbage', 'after-garbage@example.com');
      await publisher.publish('PAYMENT_SUCCEEDED', after);
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('after-garbage@example.com')));

      const [dead] = await readTopic(ctx.platform.kafka, dlqTopic(topology(ctx), ctx.topics.payment));
      expect(dead?.value?.toString()).toBe('{"not":"avro"}');
      expect(dead?.key).toBe('user-garbage');
      expect(dead?.headers).toMatchObject({
        [FAILURE_HEADERS.originalTopic]: ctx.topics.payment,
        [FAILURE_HEADERS.consumerGroup]: ctx.groupId('notification'),
        [FAILURE_HEADERS.errorClass]: 'MalformedMessageError',
        [FAILURE_HEADERS.errorCode]: 'MESSAGE_MALFORMED',
        [FAILURE_HEADERS.attempts]: '1',
      });
      expect(dead?.headers[FAILURE_HEADERS.errorMessage]).toMatch(/magic byte/);
      for (const tier of [1, 2]) expect(await countRecords(ctx.platform.kafka, retryTopic(topology(ctx), ctx.topics.payment, tier))).toBe(0);
      expect(consumer.runtime.stats.retried).toBe(0);
    } finally {
      await close();
    }
  });

  it('when the SMTP server refuses mail until every first payment has failed three times, everything is retried through the tiers and delivered, with nothing in the DLQ', async () => {
    const { ctx, publisher, consumer, close } = await setUp([2_000, 5_000, 10_000, 20_000]);
    try {
      ctx.mail.refuse({ code: 451 });
      const events = Array.from({ length: 20 }, (_, i) => paymentFor(`user-outage-${i % 5}`, `outage-${i}@example.com`));
      for (const e of events) await publisher.publish('PAYMENT_SUCCEEDED', e);
      // The outage lasts until each of the 5 users' first payment has failed from the source,
      // tier 1 and tier 2 (3 failures each) and waits in tier 3; the others wait behind them.
      await waitFor('every first payment to reach tier 3', () => consumer.runtime.stats.retried >= 15, 60_000);
      ctx.mail.refuse(undefined);

      await ctx.mail.waitFor((all) => events.every((e) => all.some((m) => m.to.includes(e.recipient.email))), 60_000);
      expect(ctx.mail.messages).toHaveLength(events.length);
      for (const tier of [1, 2, 3]) expect(await countRecords(ctx.platform.kafka, retryTopic(topology(ctx), ctx.topics.payment, tier))).toBeGreaterThanOrEqual(5);
      expect(await countRecords(ctx.platform.kafka, dlqTopic(topology(ctx), ctx.topics.payment))).toBe(0);
      const ledger: Array<{ status: string; attempts: number }> = await ctx.db('delivery_ledger').where({ channel: 'email' }).whereIn('event_id', events.map((e) => e.event_id));
      expect(ledger.map((row) => row.status)).toEqual(events.map(() => 'sent'));
      // Each user's first payment was attempted during the outage; the rest waited behind it.
      expect(ledger.filter((row) => row.attempts >= 2).length).toBeGreaterThanOrEqual(5);
      expect(await ctx.db('receipts').whereIn('event_id', events.map((e) => e.event_id))).toHaveLength(events.length);
    } finally {
      await close();
    }
  });

  it('parks a permanently failing recipient in the DLQ after the last tier, with every header', async () => {
    const { ctx, publisher, consumer, close } = await setUp([300, 600]);
    try {
      ctx.mail.refuse({ code: 451, recipients: ['never@example.com'] });
      const doomed = paymentFor('user-doomed', 'never@example.com');
      const published = await publisher.publish('PAYMENT_SUCCEEDED', doomed);
      const dlq = dlqTopic(topology(ctx), ctx.topics.payment);
      await waitFor('dead letter', async () => (await countRecords(ctx.platform.kafka, dlq)) === 1, 30_000);

      const [dead] = await readTopic(ctx.platform.kafka, dlq);
      const h = dead?.headers ?? {};
      expect(dead?.key).toBe('user-doomed');
      expect(h[FAILURE_HEADERS.originalTopic]).toBe(ctx.topics.payment);
      expect(h[FAILURE_HEADERS.originalPartition]).toBe(String(published.partition));
      expect(h[FAILURE_HEADERS.originalOffset]).toBe(published.offset);
      expect(Number(h[FAILURE_HEADERS.originalTimestamp])).toBe(doomed.occurred_at);
      expect(h[FAILURE_HEADERS.originalKey]).toBe('user-doomed');
      expect(h[FAILURE_HEADERS.consumerGroup]).toBe(ctx.groupId('notification'));
      expect(h[FAILURE_HEADERS.errorClass]).toBe('AllProvidersFailedError');
      expect(h[FAILURE_HEADERS.errorMessage]).toMatch(/451/);
      expect(h[FAILURE_HEADERS.attempts]).toBe('3');
      expect(Date.parse(h[FAILURE_HEADERS.firstFailureAt] ?? '')).toBeLessThanOrEqual(Date.now());
      expect(Number(h[FAILURE_HEADERS.dueAt])).toBeGreaterThan(0);
      expect(h['tidings-event-id']).toBe(doomed.event_id);
      expect(h.traceparent).toMatch(/^00-/);
      expect((await ctx.platform.registry.decode(dead?.value ?? null)).payload.event_id).toBe(doomed.event_id);
      expect(consumer.runtime.stats.retried).toBe(2);
      // The line is released: the user's next payment goes straight through.
      const next = paymentFor('user-doomed', 'doomed-next@example.com');
      await publisher.publish('PAYMENT_SUCCEEDED', next);
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('doomed-next@example.com')));
      await waitFor('the line released', async () => (await consumer.runtime.holds.count()) === 0, 10_000);
    } finally {
      await close();
    }
  });

  it('dead-letters a mailbox the server rejects permanently (5xx) without retrying it', async () => {
    const { ctx, publisher, consumer, close } = await setUp([300, 600]);
    try {
      ctx.mail.refuse({ code: 550, recipients: ['rejected@example.com'] });
      await publisher.publish('PAYMENT_SUCCEEDED', paymentFor('user-rejected', 'rejected@example.com'));
      const dlq = dlqTopic(topology(ctx), ctx.topics.payment);
      await waitFor('dead letter', async () => (await countRecords(ctx.platform.kafka, dlq)) === 1, 30_000);
      const [dead] = await readTopic(ctx.platform.kafka, dlq);
      expect(dead?.headers[FAILURE_HEADERS.attempts]).toBe('1');
      expect(dead?.headers[FAILURE_HEADERS.errorCode]).toBe('PROVIDER_REJECTED');
      expect(consumer.runtime.stats.retried).toBe(0);
    } finally {
      await close();
    }
  });

  it("delivers each user's payment notifications in publish order while one is retried, and other users are not delayed", async () => {
    const { ctx, publisher, consumer, close } = await setUp([1_000, 2_000, 4_000, 8_000]);
    try {
      const failing = ['slow-a@example.com', 'slow-b@example.com'];
      ctx.mail.refuse({ code: 451, recipients: failing });
      const sequence: Array<{ type: EventType; event: PaymentSucceeded }> = [];
      // Users slow-a/slow-b fail at first; fast users are healthy. Each user gets 4 payments in order.
      for (let round = 0; round < 4; round++) {
        for (const user of ['slow-a', 'slow-b', 'fast-c', 'fast-d', 'fast-e']) {
          sequence.push({ type: 'PAYMENT_SUCCEEDED', event: paymentFor(user, `${user}@example.com`, 1000 + round) });
        }
      }
      const started = Date.now();
      for (const { event } of sequence) await publisher.publish('PAYMENT_SUCCEEDED', event);

      const fastEmails = sequence.filter((s) => s.event.user_id.startsWith('fast')).length;
      await ctx.mail.waitFor((all) => all.length >= fastEmails, 15_000);
      const fastDoneMs = Date.now() - started;
      expect(ctx.mail.messages.every((m) => !failing.includes(m.to[0] ?? ''))).toBe(true);
      await waitFor('the slow users to be retried', () => consumer.runtime.stats.retried >= 4 && consumer.runtime.stats.heldBack >= 6, 30_000);
      ctx.mail.refuse(undefined);

      await ctx.mail.waitFor((all) => all.length >= sequence.length, 60_000);
      for (const user of ['slow-a', 'slow-b', 'fast-c', 'fast-d', 'fast-e']) {
        const expected = sequence.filter((s) => s.event.user_id === user).map((s) => s.event.event_id);
        const delivered = ctx.mail.to(`${user}@example.com`).map((m) => m.headers['x-tidings-event-id']);
        expect(delivered).toEqual(expected);
      }
      expect(fastDoneMs).toBeLessThan(15_000);
      // Lines are released just after the last email is accepted.
      await waitFor('every line released', async () => (await consumer.runtime.holds.count()) === 0, 10_000);
      expect(await countRecords(ctx.platform.kafka, dlqTopic(topology(ctx), ctx.topics.payment))).toBe(0);
    } finally {
      await close();
    }
  });
});
