import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { AUTH_EVENT_TYPES, type TypedEvent } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

describe('priority lanes', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  const lanes: NotificationConsumer[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 6, retainMailBodies: false });
    publisher = ctx.platform.createPublisher({ maxBatchSize: 1000 });
    await publisher.connect();
  });

  afterAll(async () => {
    await Promise.all(lanes.map((l) => l.stop()));
    await publisher.disconnect();
    await ctx.dispose();
  });

  it('emails a payment confirmation within 5 s while a backlog of 50,000 auth events is being worked off', async () => {
    // Bulk auth traffic (the security alerts among auth events ride the priority lane).
    const bulkTypes = AUTH_EVENT_TYPES.filter((t) => t !== 'LOGIN_ALERT' && t !== 'PASSWORD_RESET_REQUESTED' && t !== 'EMAIL_VERIFICATION_REQUESTED' && t !== 'ACCOUNT_LOCKED');
    const rng = seededRng(5);
    const backlog: TypedEvent[] = Array.from({ length: 50_000 }, (_, i) => {
      const type = bulkTypes[i % bulkTypes.length]!;
      return { type, event: sampleEvent(type, { user_id: `bulk-${i % 2_000}` }, rng) } as TypedEvent;
    });
    expect(backlog).toHaveLength(50_000);
    for (let i = 0; i < backlog.length; i += 5_000) {
      await Promise.all(backlog.slice(i, i + 5_000).map((e) => publisher.publish(e.type, e.event)));
    }

    lanes.push(await startNotificationConsumer(ctx.platform, { lane: 'bulk', groupId: ctx.groupId('bulk') }));
    lanes.push(await startNotificationConsumer(ctx.platform, { lane: 'priority', groupId: ctx.groupId('priority') }));
    const [bulk, priority] = lanes as [NotificationConsumer, NotificationConsumer];
    // The priority lane passes over the auth backlog without work; wait until it has.
    await waitFor('the priority lane to pass the backlog', () => priority.runtime.stats.skipped >= 40_000, 120_000);
    await waitFor('the bulk lane to be busy', () => bulk.runtime.stats.processed >= 1_000, 120_000);

    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const payment = sampleEvent('PAYMENT_SUCCEEDED', { user_id: `vip-${i}` });
      payment.recipient = { ...payment.recipient, email: `vip-${i}@example.com` };
      const started = Date.now();
      await publisher.publish('PAYMENT_SUCCEEDED', payment);
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(`vip-${i}@example.com`)), 5_000);
      latencies.push(Date.now() - started);
    }
    const backlogLeft = backlog.length - bulk.runtime.stats.processed;
    // It really was "during" the backlog: the bulk lane had not caught up.
    expect(backlogLeft).toBeGreaterThan(10_000);
    expect(Math.max(...latencies)).toBeLessThan(5_000);
    expect(priority.runtime.stats.processed).toBe(5);
    console.log(`payment confirmation publish → email accepted during a ${backlog.length}-event auth backlog: ${latencies.join(', ')} ms`);
  });
});
