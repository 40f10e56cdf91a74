import type { Admin } from 'kafkajs';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import type { EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { SmtpProvider } from '../../src/notifications/providers/smtp-provider';
import { Platform } from '../../src/platform';
import { stableAssignments } from '../helpers/group-assignments';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/** The handler's default sends per chunk; the SMTP pool is as wide so the server's delay alone sets the pace. */
const SEND_CONCURRENCY = 16;
const SESSION_TIMEOUT_MS = 10_000;
/** A slow relay: every message is accepted 1.5 s after its DATA. */
const SMTP_ACCEPT_MS = 1_500;

interface Instance {
  consumer: NotificationConsumer;
  stop(): Promise<void>;
}

/** One notification instance as in its own process: its own Kafka client, database pool and SMTP pool. */
async function startInstance(ctx: TestContext, n: number, groupId: string): Promise<Instance> {
  const platform = new Platform({ endpoints: ctx.platform.endpoints, topics: ctx.topics, clientId: `${ctx.id}-instance-${n}` });
  const email = new FailoverProvider({
    channel: 'email',
    providers: [new SmtpProvider({ url: ctx.mail.url, from: platform.endpoints.mailFrom, maxConnections: SEND_CONCURRENCY })],
  });
  const consumer = await startNotificationConsumer(platform, { groupId, sessionTimeoutMs: SESSION_TIMEOUT_MS, channels: { email } });
  return {
    consumer,
    async stop() {
      await consumer.stop();
      await email.close();
      await platform.close();
    },
  };
}

async function publish(ctx: TestContext, type: EventType, n: number, tag: string): Promise<string[]> {
  const publisher = ctx.platform.createPublisher();
  await publisher.connect();
  try {
    const events = Array.from({ length: n }, (_, i) => {
      const event = sampleEvent(type, { user_id: `${tag}-user-${i}` } as never) as { event_id: string; recipient: object };
      event.recipient = { ...event.recipient, email: `${tag}-${i}@example.com` };
      return event;
    });
    await Promise.all(events.map((event) => publisher.publish(type, event as never)));
    return events.map((e) => e.event_id);
  } finally {
    await publisher.disconnect();
  }
}

/** How many emails the SMTP server accepted per event id. */
function emailsPerEvent(ctx: TestContext): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of ctx.mail.messages) {
    const id = m.headers['x-tidings-event-id'] ?? '';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function groupEvents(instances: Instance[]): number {
  return instances.reduce((n, i) => n + i.consumer.runtime.stats.groupJoins + i.consumer.runtime.stats.rebalances, 0);
}

describe('liveness: chunks that outlast the session timeout', () => {
  let ctx: TestContext | undefined;
  let admin: Admin | undefined;
  const instances: Instance[] = [];

  afterEach(async () => {
    ctx?.mail.slowDown(0);
    for (const instance of instances.splice(0)) await instance.stop();
    await admin?.disconnect();
    await ctx?.dispose();
    ctx = undefined;
    admin = undefined;
  });

  async function setUp(): Promise<{ ctx: TestContext; admin: Admin; groupId: string }> {
    // Two partitions per topic: each of the two instances owns one partition of each.
    ctx = await createTestContext({ partitions: 2, retainMailBodies: false });
    admin = ctx.platform.kafka.admin();
    await admin.connect();
    return { ctx, admin, groupId: ctx.groupId('notification') };
  }

  const bothGroupsStable = async (a: Admin, groupId: string, members: number): Promise<boolean> =>
    Boolean((await stableAssignments(a, groupId, members)) && (await stableAssignments(a, `${groupId}.retry`, members)));

  it('two instances send 600 emails through an SMTP server that takes 1.5 s per message: each email once, and the group never rebalances', async () => {
    const { ctx, admin, groupId } = await setUp();
    instances.push(await startInstance(ctx, 1, groupId));
    await waitFor('instance 1 alone in its groups', () => bothGroupsStable(admin, groupId, 1), 60_000, 250);
    instances.push(await startInstance(ctx, 2, groupId));
    // Instance 1 joined each group twice (alone, then with instance 2), instance 2 once; the
    // count is taken once both groups are stable and no join has come in for a second.
    let seen = -1;
    const settled = await waitFor(
      'both instances settled in both groups',
      async () => {
        const now = groupEvents(instances);
        const quiet = now === seen;
        seen = now;
        return quiet && now >= 6 && (await bothGroupsStable(admin, groupId, 2)) ? now : undefined;
      },
      60_000,
      1_000,
    );

    ctx.mail.slowDown(SMTP_ACCEPT_MS);
    // About 300 per partition: one chunk takes some 300 / 16 × 1.5 s ≈ 28 s, nearly three session timeouts.
    const ids = await publish(ctx, 'PASSWORD_RESET_REQUESTED', 600, 'slow');
    await ctx.mail.waitFor(() => ids.every((id) => emailsPerEvent(ctx).has(id)), 150_000);
    await waitForGroupToCatchUp(ctx.platform.kafka, groupId, [ctx.topics.auth], 60_000);

    const counts = emailsPerEvent(ctx);
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect(ctx.mail.messages).toHaveLength(ids.length);
    // Nobody was evicted mid-chunk, so no partition changed hands.
    expect(groupEvents(instances)).toBe(settled);
    expect(await stableAssignments(admin, groupId, 2)).toBeDefined();
    // Both did their share.
    expect(instances.map((i) => i.consumer.runtime.stats.processed > 0)).toEqual([true, true]);
  }, 300_000);

  it('a second instance joining while the first is mid-chunk on a slow SMTP server: every payment is processed once, each receipt emailed once', async () => {
    const { ctx, admin, groupId } = await setUp();
    // About 160 per partition: a chunk takes some 15 s, longer than the session timeout.
    const ids = await publish(ctx, 'PAYMENT_SUCCEEDED', 320, 'rebalance');
    ctx.mail.slowDown(SMTP_ACCEPT_MS);
    instances.push(await startInstance(ctx, 1, groupId));
    // Instance 1 owns every partition and is sending its first chunk.
    await ctx.mail.waitFor((all) => all.length >= SEND_CONCURRENCY, 60_000);
    instances.push(await startInstance(ctx, 2, groupId));

    await ctx.mail.waitFor(() => ids.every((id) => emailsPerEvent(ctx).has(id)), 150_000);
    await waitForGroupToCatchUp(ctx.platform.kafka, groupId, [ctx.topics.payment], 60_000);
    await waitFor('both instances in the group', () => stableAssignments(admin, groupId, 2), 60_000, 250);

    const counts = emailsPerEvent(ctx);
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect(ctx.mail.messages).toHaveLength(ids.length);
    expect(await ctx.db('receipts').whereIn('event_id', ids)).toHaveLength(ids.length);
    expect(await ctx.db('delivery_ledger').whereIn('event_id', ids).where({ channel: 'email', status: 'sent' })).toHaveLength(ids.length);
    // The chunk in progress was finished and committed by its owner before the partitions moved:
    // no record was read again by the other instance.
    expect(instances.map((i) => i.consumer.runtime.stats.duplicates)).toEqual([0, 0]);
    // The join did rebalance the group (instance 1 joined again).
    expect(instances[0]!.consumer.runtime.stats.rebalances).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
