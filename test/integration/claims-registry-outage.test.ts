import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { dlqTopic, retryTopics } from '../../src/consumer/retry-topology';
import type { TypedEvent } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Platform } from '../../src/platform';
import type { Publisher } from '../../src/producer/publisher';
import { platformBehindRegistryProxy } from '../helpers/registry-proxy';
import type { TcpProxy } from '../helpers/tcp-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * README, Guarantees: "Outages of PostgreSQL, the registry or the broker pause work; nothing
 * is lost, skipped or dead-lettered." Here the registry goes away for one consumer only: its
 * registry URL goes through a proxy that the test cuts mid-run.
 */
describe('README claim: a registry outage mid-run pauses and dead-letters nothing', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  let proxied: Platform;
  let publisher: Publisher;
  let consumer: NotificationConsumer;

  beforeAll(async () => {
    ctx = await createTestContext();
    ({ proxy, platform: proxied } = await platformBehindRegistryProxy(ctx));
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    consumer = await startNotificationConsumer(proxied, { groupId: ctx.groupId('notification'), outageBackoff: { initialMs: 200, maxMs: 1_000 } });
  });

  afterAll(async () => {
    await consumer.stop();
    await publisher.disconnect();
    await proxied.close();
    await proxy.close();
    await ctx.dispose();
  });

  function withEmail<T extends TypedEvent>(typed: T, email: string): T {
    return { ...typed, event: { ...typed.event, recipient: { ...typed.event.recipient, email } } } as T;
  }

  it('holds events it cannot decode while the registry is unreachable, then processes each once when it is back', async () => {
    const before = Array.from({ length: 5 }, (_, i) => withEmail({ type: 'PAYMENT_SUCCEEDED', event: sampleEvent('PAYMENT_SUCCEEDED', { user_id: `u-${i}` }) } as TypedEvent, `before-${i}@example.com`));
    for (const e of before) await publisher.publish(e.type, e.event);
    await ctx.mail.waitFor((all) => all.length >= before.length, 30_000);
    const processedBefore = consumer.runtime.stats.processed;

    proxy.cut();
    // Types this consumer has not decoded yet: their writer schemas must come from the registry.
    const during = Array.from({ length: 10 }, (_, i) =>
      withEmail(
        (i % 2 === 0
          ? { type: 'ACCOUNT_UNLOCKED', event: sampleEvent('ACCOUNT_UNLOCKED', { user_id: `u-${i}` }) }
          : { type: 'INVOICE_GENERATED', event: sampleEvent('INVOICE_GENERATED', { user_id: `u-${i}` }) }) as TypedEvent,
        `during-${i}@example.com`,
      ),
    );
    for (const e of during) await publisher.publish(e.type, e.event);
    // The consumer has tried (and failed) to decode them several times: it is paused, not skipping.
    await waitFor('the consumer to retry the chunk in place', () => consumer.runtime.stats.infrastructureRetries >= 3, 60_000);
    expect(consumer.runtime.stats).toMatchObject({ processed: processedBefore, malformed: 0, deadLettered: 0, retried: 0 });
    expect(ctx.mail.messages).toHaveLength(before.length);
    expect(await ctx.db('inbox').count('* as n').first()).toEqual({ n: String(before.length) });

    proxy.restore();
    await ctx.mail.waitFor((all) => all.length >= before.length + during.length, 60_000);
    await waitFor('every event recorded', () => consumer.runtime.stats.processed === processedBefore + during.length, 30_000);
    const all = [...before, ...during];
    expect(ctx.mail.messages.map((m) => m.headers['x-tidings-event-id']).sort()).toEqual(all.map((e) => e.event.event_id).sort());
    expect(await ctx.db('inbox').count('* as n').first()).toEqual({ n: String(all.length) });
    const topology = { name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [10_000, 60_000, 600_000, 3_600_000] };
    for (const topic of [...retryTopics(topology), dlqTopic(topology, ctx.topics.auth), dlqTopic(topology, ctx.topics.payment)]) {
      expect(await countRecords(ctx.platform.kafka, topic)).toBe(0);
    }
  });
});
