import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { sampleEvent } from '../../src/events/samples';
import type { Provider } from '../../src/notifications/channels/channel';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { SmtpProvider } from '../../src/notifications/providers/smtp-provider';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';

const PARTITIONS = 6;
const EVENTS = 360;
/** Each email accepted this long after its DATA: a partition's chunk keeps its sends in flight for a while. */
const SMTP_ACCEPT_MS = 150;

/**
 * `partitionsConcurrency`: an instance works on several partitions at once (kafkajs runs their
 * batches side by side), each partition's chunks still one after another in their own
 * transactions. With the default 1, the sends in flight at any moment all belong to one
 * partition's chunk (a chunk's sends settle before the next chunk starts).
 */
describe('a notification instance working on several partitions at once', () => {
  let ctx: TestContext;
  let consumer: NotificationConsumer | undefined;
  let email: FailoverProvider | undefined;

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: PARTITIONS, retainMailBodies: false });
  });

  afterAll(async () => {
    ctx.mail.slowDown(0);
    await consumer?.stop();
    await email?.close();
    await ctx.dispose();
  });

  it('has chunks of three partitions sending at the same time, and processes and emails each payment once', async () => {
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    const partitionOf = new Map<string, number>();
    try {
      const results = await Promise.all(
        Array.from({ length: EVENTS }, (_, i) => {
          const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: `concurrent-user-${i % 60}` });
          event.recipient = { ...event.recipient, email: `concurrent-${i}@example.com` };
          return publisher.publish('PAYMENT_SUCCEEDED', event);
        }),
      );
      for (const r of results) partitionOf.set(r.eventId, r.partition);
    } finally {
      await publisher.disconnect();
    }
    expect(new Set(partitionOf.values()).size).toBe(PARTITIONS);

    // Which partitions have a send in flight, at every send's start.
    const inFlight = new Map<number, number>();
    let mostPartitionsAtOnce = 0;
    const smtp = new SmtpProvider({ url: ctx.mail.url, from: ctx.platform.endpoints.mailFrom });
    const watched: Provider = {
      name: smtp.name,
      channel: smtp.channel,
      async send(message) {
        const partition = partitionOf.get(message.eventId)!;
        inFlight.set(partition, (inFlight.get(partition) ?? 0) + 1);
        mostPartitionsAtOnce = Math.max(mostPartitionsAtOnce, inFlight.size);
        try {
          return await smtp.send(message);
        } finally {
          const left = inFlight.get(partition)! - 1;
          if (left === 0) inFlight.delete(partition);
          else inFlight.set(partition, left);
        }
      },
      close: () => smtp.close(),
    };
    email = new FailoverProvider({ channel: 'email', providers: [watched] });
    ctx.mail.slowDown(SMTP_ACCEPT_MS);
    const groupId = ctx.groupId('notification');
    consumer = await startNotificationConsumer(ctx.platform, { groupId, partitionsConcurrency: 3, channels: { email } });

    await waitForGroupToCatchUp(ctx.platform.kafka, groupId, [ctx.topics.auth, ctx.topics.payment], 120_000);
    expect(mostPartitionsAtOnce).toBeGreaterThanOrEqual(2);
    expect(mostPartitionsAtOnce).toBeLessThanOrEqual(3);

    const ids = [...partitionOf.keys()];
    const receipts: Array<{ event_id: string }> = await ctx.db('receipts').select('event_id');
    expect(receipts.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    const inbox: Array<{ event_id: string }> = await ctx.db('inbox').where({ consumer_group: groupId }).select('event_id');
    expect(inbox.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    const mailed = ctx.mail.messages.map((m) => m.headers['x-tidings-event-id']);
    expect(mailed).toHaveLength(EVENTS);
    expect(new Set(mailed)).toEqual(new Set(ids));
    expect(consumer.runtime.stats.processed).toBe(EVENTS);
  }, 180_000);
});
