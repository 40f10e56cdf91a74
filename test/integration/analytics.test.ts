import { startAnalyticsConsumer, type AnalyticsConsumer } from '../../consumers/analytics';
import { eventCounts } from '../../src/analytics/event-counts';
import type { EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';

describe('analytics consumer group: per-day counters of every event type, counted exactly once', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let analytics: AnalyticsConsumer;
  const groupId = (): string => ctx.groupId('analytics');
  const caughtUp = (): Promise<void> => waitForGroupToCatchUp(ctx.platform.kafka, groupId(), [ctx.topics.auth, ctx.topics.payment]);

  const day1 = Date.UTC(2026, 2, 1, 23, 59, 0);
  const day2 = Date.UTC(2026, 2, 2, 0, 0, 30);
  // What is published, as (UTC day, type, how many).
  const plan: Array<[number, EventType, number]> = [
    [day1, 'USER_REGISTERED', 5],
    [day1, 'PAYMENT_SUCCEEDED', 3],
    [day2, 'USER_REGISTERED', 2],
    [day2, 'PAYMENT_FAILED', 4],
    [day2, 'LOGIN_ALERT', 1],
  ];
  const events = plan.flatMap(([at, type, n]) =>
    Array.from({ length: n }, (_, i) => ({ type, event: sampleEvent(type, { user_id: `analytics-${type}-${i}`, occurred_at: at } as never) })),
  );
  const expected = [
    { day: '2026-03-01', domain: 'auth', eventType: 'USER_REGISTERED', count: 5 },
    { day: '2026-03-01', domain: 'payment', eventType: 'PAYMENT_SUCCEEDED', count: 3 },
    { day: '2026-03-02', domain: 'auth', eventType: 'LOGIN_ALERT', count: 1 },
    { day: '2026-03-02', domain: 'auth', eventType: 'USER_REGISTERED', count: 2 },
    { day: '2026-03-02', domain: 'payment', eventType: 'PAYMENT_FAILED', count: 4 },
  ];

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    analytics = await startAnalyticsConsumer(ctx.platform, { groupId: groupId() });
  });

  afterAll(async () => {
    await analytics?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  it('counts what was published per day, event type and domain', async () => {
    await Promise.all(events.map(({ type, event }) => publisher.publish(type, event as never)));
    await caughtUp();
    expect(await eventCounts(ctx.db)).toEqual(expected);
  });

  it('counts nothing twice when the same events are published again', async () => {
    await Promise.all(events.map(({ type, event }) => publisher.publish(type, event as never)));
    await caughtUp();
    expect(await eventCounts(ctx.db)).toEqual(expected);
    expect(analytics.runtime.stats.duplicates).toBeGreaterThanOrEqual(events.length);
  });

  it('filters counters by day range, type and domain', async () => {
    expect(await eventCounts(ctx.db, { from: '2026-03-02', to: '2026-03-02', domain: 'auth' })).toEqual(expected.slice(2, 4));
    expect(await eventCounts(ctx.db, { eventType: 'USER_REGISTERED' })).toEqual([expected[0], expected[3]]);
    expect(await eventCounts(ctx.db, { from: '2026-03-03' })).toEqual([]);
  });
});
