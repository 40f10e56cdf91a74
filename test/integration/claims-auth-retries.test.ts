import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { dlqTopic, retryTopic } from '../../src/consumer/retry-topology';
import type { AccountUnlocked, PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * README, Guarantees: "Auth events use plain non-blocking retries: a retried auth event does
 * not hold back the user's later auth events" — while payment events do wait behind a
 * retried one. Both run side by side in one consumer, so each is the other's control.
 */
describe('README claim: an auth retry does not hold back the user\'s later auth events', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let consumer: NotificationConsumer;
  const topology = () => ({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] });

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    // Long enough that the later events are handled while the first waits in tier 1.
    consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification'), retryDelaysMs: [6_000, 10_000, 20_000] });
  });

  afterAll(async () => {
    await consumer.stop();
    await publisher.disconnect();
    await ctx.dispose();
  });

  function unlocked(user: string, email: string): AccountUnlocked {
    const event = sampleEvent('ACCOUNT_UNLOCKED', { user_id: user });
    return { ...event, recipient: { ...event.recipient, email } };
  }

  function payment(user: string, email: string): PaymentSucceeded {
    const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
    return { ...event, recipient: { ...event.recipient, email } };
  }

  it('delivers a user\'s later auth email while the first waits in the retry tier; a payment in the same situation waits', async () => {
    // The first address of each user refuses mail for now (451: try again later).
    ctx.mail.refuse({ code: 451, recipients: ['auth-first@example.com', 'pay-first@example.com'] });
    const authFirst = unlocked('user-a', 'auth-first@example.com');
    const authLater = unlocked('user-a', 'auth-later@example.com');
    const payFirst = payment('user-p', 'pay-first@example.com');
    const payLater = payment('user-p', 'pay-later@example.com');
    await publisher.publish('ACCOUNT_UNLOCKED', authFirst);
    await publisher.publish('PAYMENT_SUCCEEDED', payFirst);
    await waitFor('both first events to fail into tier 1', () => consumer.runtime.stats.retried >= 2, 30_000);
    await publisher.publish('ACCOUNT_UNLOCKED', authLater);
    await publisher.publish('PAYMENT_SUCCEEDED', payLater);

    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('auth-later@example.com')), 30_000);
    // The later auth email went out while the first was still waiting in the tier...
    expect(ctx.mail.to('auth-first@example.com')).toHaveLength(0);
    expect(await countRecords(ctx.platform.kafka, retryTopic(topology(), ctx.topics.auth, 1))).toBe(1);
    // ...whereas the user's later payment is held behind its first one (the control).
    await waitFor('the later payment to queue behind the first', async () => (await consumer.runtime.holds.count()) === 2, 30_000);
    expect(ctx.mail.to('pay-later@example.com')).toHaveLength(0);

    ctx.mail.refuse(undefined);
    await ctx.mail.waitFor((all) => ['auth-first', 'pay-first', 'pay-later'].every((a) => all.some((m) => m.to.includes(`${a}@example.com`))), 60_000);
    // Payments kept their order; each email went out once; nothing was dead-lettered.
    const payOrder = ctx.mail.messages.filter((m) => m.to.some((to) => to.startsWith('pay-'))).map((m) => m.headers['x-tidings-event-id']);
    expect(payOrder).toEqual([payFirst.event_id, payLater.event_id]);
    expect(ctx.mail.messages).toHaveLength(4);
    expect(await countRecords(ctx.platform.kafka, dlqTopic(topology(), ctx.topics.auth))).toBe(0);
    expect(await countRecords(ctx.platform.kafka, dlqTopic(topology(), ctx.topics.payment))).toBe(0);
  });
});
