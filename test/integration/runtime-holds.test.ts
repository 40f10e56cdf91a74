import { ConfigResourceTypes } from 'kafkajs';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { dlqTopic, retryTopic, type RetryTopology } from '../../src/consumer/retry-topology';
import type { PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { ensureTopics } from '../../src/kafka/topics';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const DAY_MS = 24 * 60 * 60 * 1000;

function paymentFor(user: string, email: string): PaymentSucceeded {
  const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
  return { ...event, recipient: { ...event.recipient, email } };
}

/** The user's hold rows (ordered payment events), head first. */
async function holdsOf(ctx: TestContext, groupId: string, user: string): Promise<Array<{ event_id: string; tier: number }>> {
  return ctx.db('retry_holds').where({ consumer_group: groupId, message_key: user }).orderBy('seq').select('event_id', 'tier');
}

describe('key holds never stall a key for good; tier topics outlive their delay', () => {
  let ctx: TestContext | undefined;
  let publisher: Publisher | undefined;
  const running: NotificationConsumer[] = [];

  afterEach(async () => {
    for (const consumer of running.splice(0)) await consumer.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
    ctx = undefined;
    publisher = undefined;
  });

  async function setUp(): Promise<{ ctx: TestContext; publisher: Publisher; groupId: string }> {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    return { ctx, publisher, groupId: ctx.groupId('notification') };
  }

  async function start(c: TestContext, groupId: string, retryDelaysMs: number[]): Promise<NotificationConsumer> {
    const consumer = await startNotificationConsumer(c.platform, { groupId, retryDelaysMs });
    running.push(consumer);
    return consumer;
  }

  async function stop(consumer: NotificationConsumer): Promise<void> {
    running.splice(running.indexOf(consumer), 1);
    await consumer.stop();
  }

  /** Publishes a payment for `user` that the SMTP server refuses (451) until told otherwise; resolves once it heads the user's line in `tier`. */
  async function failInto(c: TestContext, p: Publisher, groupId: string, user: string, tier: number): Promise<PaymentSucceeded> {
    c.mail.refuse({ code: 451, recipients: [`${user}@example.com`] });
    const head = paymentFor(user, `${user}@example.com`);
    await p.publish('PAYMENT_SUCCEEDED', head);
    await waitFor(`the payment in tier ${tier}`, async () => (await holdsOf(c, groupId, user))[0]?.tier === tier, 30_000);
    return head;
  }

  /** Publishes the user's next payment and resolves once it is emailed. */
  async function nextPaymentEmailed(c: TestContext, p: Publisher, user: string): Promise<void> {
    const email = `${user}-later@example.com`;
    await p.publish('PAYMENT_SUCCEEDED', paymentFor(user, email));
    await c.mail.waitFor((all) => all.some((m) => m.to.includes(email)), 30_000);
  }

  it("when the group restarts without the tier a user's payment waits in, the user's later payments are delivered", async () => {
    const { ctx, publisher, groupId } = await setUp();
    const first = await start(ctx, groupId, [300, 600_000]);
    // Failed once into tier 1, then again into tier 2 (10 min): the user's line is headed there.
    await failInto(ctx, publisher, groupId, 'user-tier-two', 2);
    await stop(first);
    ctx.mail.refuse(undefined);

    // Tier 2 is gone from the topology: its record will never be read again.
    const restarted = await start(ctx, groupId, [300]);
    await nextPaymentEmailed(ctx, publisher, 'user-tier-two');
    expect(await holdsOf(ctx, groupId, 'user-tier-two')).toEqual([]);
    expect(restarted.runtime.stats.heldBack).toBe(0);
  }, 120_000);

  it('a hold that has not moved for longer than maxHoldAgeMs is released and the user’s later payments flow', async () => {
    const { ctx, publisher, groupId } = await setUp();
    // One 10 min tier: the default maxHoldAgeMs is 2 × 10 min + 10 min = 30 min.
    const consumer = await start(ctx, groupId, [600_000]);
    const head = await failInto(ctx, publisher, groupId, 'user-aged', 1);
    ctx.mail.refuse(undefined);
    // The head's record is presumed lost (its tier's records expired, say): its hold is an hour old.
    await ctx.db('retry_holds').where({ consumer_group: groupId, event_id: head.event_id }).update({ held_at: ctx.db.raw("now() - interval '1 hour'") });

    await nextPaymentEmailed(ctx, publisher, 'user-aged');
    expect(await holdsOf(ctx, groupId, 'user-aged')).toEqual([]);
    expect(consumer.runtime.stats.heldBack).toBe(0);
  }, 120_000);

  it('a young hold still keeps the user’s later payments in order behind it', async () => {
    const { ctx, publisher, groupId } = await setUp();
    const consumer = await start(ctx, groupId, [600_000]);
    await failInto(ctx, publisher, groupId, 'user-young', 1);
    ctx.mail.refuse(undefined);
    const later = paymentFor('user-young', 'young-later@example.com');
    await publisher.publish('PAYMENT_SUCCEEDED', later);
    await waitFor('the later payment held behind', () => consumer.runtime.stats.heldBack === 1, 30_000);
    expect((await holdsOf(ctx, groupId, 'user-young')).map((h) => h.event_id)[1]).toBe(later.event_id);
    expect(ctx.mail.to('young-later@example.com')).toEqual([]);
  }, 120_000);

  it('creates tier topics with a retention longer than their delay and raises a shorter one on an existing tier', async () => {
    const { ctx, groupId } = await setUp();
    const delays = [1_000, 20 * DAY_MS];
    const topology: RetryTopology = { name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: delays };
    // A tier topic left from an earlier deployment, with a retention shorter than the new one and a setting of its own.
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    try {
      const existing = retryTopic(topology, ctx.topics.payment, 1);
      await ensureTopics(admin, [{ topic: existing, partitions: 3, config: { 'retention.ms': '1000', 'max.message.bytes': '2000000' } }]);
      await start(ctx, groupId, delays);

      const tiers = topology.sources.flatMap((source) => delays.map((_, i) => retryTopic(topology, source, i + 1)));
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [...tiers, dlqTopic(topology, ctx.topics.payment)].map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      });
      const config = (topic: string, name: string): string | undefined =>
        described.resources.find((r) => r.resourceName === topic)?.configEntries.find((e) => e.configName === name)?.configValue;
      // The existing tier kept its records for 1 s: raised to a week.
      expect(Number(config(existing, 'retention.ms'))).toBe(7 * DAY_MS);
      for (const source of topology.sources) {
        // At least a week, and three times the delay when that is longer.
        expect(Number(config(retryTopic(topology, source, 1), 'retention.ms'))).toBe(7 * DAY_MS);
        expect(Number(config(retryTopic(topology, source, 2), 'retention.ms'))).toBe(60 * DAY_MS);
      }
      // The existing topic's own setting survived the change.
      expect(config(existing, 'max.message.bytes')).toBe('2000000');
      // A DLQ keeps its records no longer than its source: payment.events keeps them 7 days (TIDINGS_PAYMENT_RETENTION).
      expect(Number(config(dlqTopic(topology, ctx.topics.payment), 'retention.ms'))).toBe(7 * DAY_MS);
    } finally {
      await admin.disconnect();
    }
  }, 120_000);
});
