import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { sampleEvent } from '../../src/events/samples';
import { Platform } from '../../src/platform';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { TcpProxy } from '../helpers/tcp-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/**
 * The runtime's in-place outage retry (PostgreSQL unreachable: the chunk is retried as it is)
 * ends as soon as the runtime is stopped, even mid-backoff, and leaves the chunk uncommitted
 * for whoever owns the partition next.
 */
describe('consumer runtime: stop during an outage', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;

  beforeAll(async () => {
    ctx = await createTestContext();
    const db = new URL(ctx.databaseUrl);
    proxy = await TcpProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
  });

  afterAll(async () => {
    await proxy?.close();
    await ctx?.dispose();
  });

  it('returns at once from a backoff of 20 s or more, and the restarted group delivers the chunk once', async () => {
    const groupId = ctx.groupId('notification');
    // This instance reaches PostgreSQL only through the proxy.
    const platform = new Platform({ endpoints: { ...ctx.platform.endpoints, databaseUrl: proxy.via(ctx.databaseUrl) }, topics: ctx.topics, clientId: `${ctx.id}-cut` });
    let first: NotificationConsumer | undefined = await startNotificationConsumer(platform, { groupId, outageBackoff: { initialMs: 40_000, maxMs: 60_000 } });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();

    const event = sampleEvent('PASSWORD_RESET_REQUESTED');
    try {
      await first.runtime.waitForAssignment(60_000);
      proxy.cut();
      await publisher.publish('PASSWORD_RESET_REQUESTED', event);
      // The chunk failed and its retry waits at least 20 s (full jitter over 40 s, floor half of it).
      await waitFor('the chunk to fail', () => first!.runtime.stats.infrastructureRetries >= 1, 60_000);

      const stopping = Date.now();
      await first.stop();
      first = undefined;
      expect(Date.now() - stopping).toBeLessThan(5_000);
    } finally {
      await first?.stop();
      await platform.close();
    }

    // Nothing of the chunk was committed: the next owner (with the database back) delivers it.
    proxy.restore();
    const second = await startNotificationConsumer(ctx.platform, { groupId });
    try {
      await ctx.mail.waitFor((all) => all.some((m) => m.headers['x-tidings-event-id'] === event.event_id), 60_000);
      await waitForGroupToCatchUp(ctx.platform.kafka, groupId, [ctx.topics.auth]);
      expect(ctx.mail.messages.filter((m) => m.headers['x-tidings-event-id'] === event.event_id)).toHaveLength(1);
      expect(second.runtime.stats.processed).toBe(1);
    } finally {
      await second.stop();
      await publisher.disconnect();
    }
  }, 180_000);
});
