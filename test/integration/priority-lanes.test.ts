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
  /** Publish → email accepted of the confirmations sent with the lanes (first test). */
  const laneLatencies: number[] = [];

  // Bulk auth traffic (the security alerts among auth events ride the priority lane), queued
  // before any consumer starts; each test reads it with consumer groups of its own.
  const bulkTypes = AUTH_EVENT_TYPES.filter((t) => t !== 'LOGIN_ALERT' && t !== 'PASSWORD_RESET_REQUESTED' && t !== 'EMAIL_VERIFICATION_REQUESTED' && t !== 'ACCOUNT_LOCKED');
  const rng = seededRng(5);
  const backlog: TypedEvent[] = Array.from({ length: 50_000 }, (_, i) => {
    const type = bulkTypes[i % bulkTypes.length]!;
    return { type, event: sampleEvent(type, { user_id: `bulk-${i % 2_000}` }, rng) } as TypedEvent;
  });

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 6, retainMailBodies: false });
    publisher = ctx.platform.createPublisher({ maxBatchSize: 1000 });
    await publisher.connect();
    for (let i = 0; i < backlog.length; i += 5_000) {
      await Promise.all(backlog.slice(i, i + 5_000).map((e) => publisher.publish(e.type, e.event)));
    }
  });

  /** Publishes a payment confirmation to `email`; resolves with the time it was published. */
  async function publishConfirmation(user: string, email: string): Promise<number> {
    const payment = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
    payment.recipient = { ...payment.recipient, email };
    const started = Date.now();
    await publisher.publish('PAYMENT_SUCCEEDED', payment);
    return started;
  }

  const emailed = (email: string) => (all: Array<{ to: string[] }>) => all.some((m) => m.to.includes(email));

  afterAll(async () => {
    await Promise.all(lanes.splice(0).map((l) => l.stop()));
    await publisher.disconnect();
    await ctx.dispose();
  });

  it('emails a payment confirmation within 5 s while a backlog of 50,000 auth events is being worked off', async () => {
    lanes.push(await startNotificationConsumer(ctx.platform, { lane: 'bulk', groupId: ctx.groupId('bulk') }));
    lanes.push(await startNotificationConsumer(ctx.platform, { lane: 'priority', groupId: ctx.groupId('priority') }));
    const [bulk, priority] = lanes as [NotificationConsumer, NotificationConsumer];
    // The priority lane passes over the auth backlog without work; wait until it has.
    await waitFor('the priority lane to pass the backlog', () => priority.runtime.stats.skipped >= 40_000, 120_000);
    await waitFor('the bulk lane to be busy', () => bulk.runtime.stats.processed >= 1_000, 120_000);

    const latencies = laneLatencies;
    for (let i = 0; i < 5; i++) {
      const started = await publishConfirmation(`vip-${i}`, `vip-${i}@example.com`);
      await ctx.mail.waitFor(emailed(`vip-${i}@example.com`), 5_000);
      latencies.push(Date.now() - started);
    }
    const backlogLeft = backlog.length - bulk.runtime.stats.processed;
    // It really was "during" the backlog: the bulk lane had not caught up.
    expect(backlogLeft).toBeGreaterThan(10_000);
    expect(Math.max(...latencies)).toBeLessThan(5_000);
    expect(priority.runtime.stats.processed).toBe(5);
    console.log(`payment confirmation publish → email accepted during a ${backlog.length}-event auth backlog: ${latencies.join(', ')} ms`);
    await Promise.all(lanes.splice(0).map((l) => l.stop()));
  });

  it('control: with --lane all (one group for everything) the confirmation waits behind its partition of the backlog', async () => {
    const all = await startNotificationConsumer(ctx.platform, { lane: 'all', groupId: ctx.groupId('all') });
    lanes.push(all);
    await waitFor('the single group to be busy', () => all.runtime.stats.processed >= 1_000, 120_000);
    const before = all.runtime.stats.processed;
    const started = await publishConfirmation('control', 'control@example.com');
    // Without lanes the confirmation is behind the auth events of its partition still queued
    // (thousands): however fast the worker, those are worked first.
    await ctx.mail.waitFor(emailed('control@example.com'), 180_000);
    const latency = Date.now() - started;
    const workedFirst = all.runtime.stats.processed - before;
    expect(workedFirst).toBeGreaterThan(1_000);
    expect(latency).toBeGreaterThan(Math.max(...laneLatencies));
    console.log(`without lanes, a payment confirmation published during the same backlog was emailed after ${latency} ms, behind ${workedFirst} backlog events; with lanes: ${laneLatencies.join(', ')} ms`);
  }, 300_000);
});
