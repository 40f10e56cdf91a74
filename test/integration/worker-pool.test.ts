import { startAnalyticsConsumer, type AnalyticsConsumer } from '../../consumers/analytics';
import { startAuditConsumer, type AuditConsumer } from '../../consumers/audit';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { eventCounts } from '../../src/analytics/event-counts';
import { verifyAuditChain } from '../../src/audit/audit-log';
import type { EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { Platform } from '../../src/platform';
import type { Publisher } from '../../src/producer/publisher';
import { stableAssignments } from '../helpers/group-assignments';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const PARTITIONS = 3;

describe('consumer groups: publish-subscribe across groups, a worker pool within one', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let published = 0;
  const sources = (): string[] => [ctx.topics.auth, ctx.topics.payment];

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: PARTITIONS });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  /** Publishes `n` events of auth and payment types for many users (so every partition gets some). */
  async function publishMix(n: number, tag: string): Promise<string[]> {
    const types: EventType[] = ['USER_REGISTERED', 'LOGIN_ALERT', 'PAYMENT_SUCCEEDED', 'PAYMENT_FAILED'];
    const events = Array.from({ length: n }, (_, i) => {
      const type = types[i % types.length]!;
      const event = sampleEvent(type, { user_id: `${tag}-user-${i}` } as never);
      event.recipient = { ...event.recipient, email: `${tag}-${i}@example.com` };
      return { type, event };
    });
    await Promise.all(events.map(({ type, event }) => publisher.publish(type, event as never)));
    published += n;
    return events.map((e) => e.event.event_id);
  }

  const inboxCount = async (groupId: string): Promise<number> => Number(((await ctx.db('inbox').where({ consumer_group: groupId }).count('* as n').first()) as { n: string }).n);

  it('delivers every event to the notification, audit and analytics groups, each with its own offsets', async () => {
    const groups = { notification: ctx.groupId('notification'), audit: ctx.groupId('audit'), analytics: ctx.groupId('analytics') };
    const running: Array<NotificationConsumer | AuditConsumer | AnalyticsConsumer> = [];
    try {
      running.push(await startNotificationConsumer(ctx.platform, { groupId: groups.notification }));
      running.push(await startAuditConsumer(ctx.platform, { groupId: groups.audit }));
      running.push(await startAnalyticsConsumer(ctx.platform, { groupId: groups.analytics }));
      const ids = await publishMix(24, 'pubsub');

      for (const groupId of Object.values(groups)) await waitForGroupToCatchUp(ctx.platform.kafka, groupId, sources());
      for (const groupId of Object.values(groups)) expect(await inboxCount(groupId)).toBe(ids.length);
      expect((await ctx.db('audit_log').whereIn('event_id', ids)).length).toBe(ids.length);
      expect((await eventCounts(ctx.db)).reduce((sum, c) => sum + c.count, 0)).toBe(ids.length);
      await waitFor('an email per event', async () => (await ctx.db('delivery_ledger').whereIn('event_id', ids).where({ channel: 'email', status: 'sent' })).length === ids.length, 60_000);

      // Each group committed its own offsets, all the way to the end of every partition.
      const admin = ctx.platform.kafka.admin();
      await admin.connect();
      try {
        for (const groupId of Object.values(groups)) {
          const committed = await admin.fetchOffsets({ groupId, topics: sources() });
          const total = committed.flatMap((t) => t.partitions).reduce((sum, p) => sum + Number(p.offset), 0);
          expect(total).toBe(published);
        }
      } finally {
        await admin.disconnect();
      }
    } finally {
      for (const consumer of running) await consumer.stop();
    }
  });

  it('shares the partitions of one group among three instances, which together record every event exactly once', async () => {
    const groupId = ctx.groupId('audit-pool');
    // One Platform per instance, as in separate processes: its own Kafka client id and database pool.
    const platforms = [1, 2, 3].map((i) => new Platform({ endpoints: ctx.platform.endpoints, topics: ctx.topics, clientId: `${ctx.id}-worker-${i}` }));
    const workers: AuditConsumer[] = [];
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    try {
      for (const platform of platforms) workers.push(await startAuditConsumer(platform, { groupId, sessionTimeoutMs: 6000 }));
      const assignments = (await waitFor('three instances each assigned partitions', () => stableAssignments(admin, groupId, 3), 60_000, 250))!;

      const newIds = await publishMix(36, 'pool');
      await waitForGroupToCatchUp(ctx.platform.kafka, groupId, sources());

      // Every partition of both topics has exactly one owner, and every instance owns some.
      const owned = [...assignments.values()].flat().sort();
      const all = sources().flatMap((t) => Array.from({ length: PARTITIONS }, (_, p) => `${t}/${p}`)).sort();
      expect(owned).toEqual(all);
      for (const [clientId, partitions] of assignments) expect({ clientId, owns: partitions.length > 0 }).toEqual({ clientId, owns: true });
      expect([...assignments.keys()].sort()).toEqual(platforms.map((_, i) => `${ctx.id}-worker-${i + 1}`));

      // Together they applied each event once (the pool's inbox), and each did part of the work.
      const processed = workers.map((w) => w.runtime.stats.processed);
      expect(processed.reduce((a, b) => a + b, 0)).toBe(published);
      expect(processed.every((n) => n > 0)).toBe(true);
      expect(await inboxCount(groupId)).toBe(published);
      // The chain stays whole although three instances appended to it at once.
      expect((await ctx.db('audit_log').whereIn('event_id', newIds)).length).toBe(newIds.length);
      expect(await verifyAuditChain(ctx.db)).toEqual({ ok: true, rows: published });
    } finally {
      await admin.disconnect();
      for (const worker of workers) await worker.stop();
      for (const platform of platforms) await platform.close();
    }
  });
});
