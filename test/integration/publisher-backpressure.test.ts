import { ConfigError } from '../../src/errors';
import { sampleEvent } from '../../src/events/samples';
import { Outbox } from '../../src/outbox/outbox';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { Publisher, type PublishResult } from '../../src/producer/publisher';
import { EventRegistry } from '../../src/registry/event-registry';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';

describe('publisher: per-user order under load and first publishes; a bounded queue gives backpressure; options are checked', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext();
  });

  afterAll(async () => {
    await ctx?.dispose();
  });

  it('with maxQueuedEvents = 200, 5,000 publishes fired at once never hold more than 200 places, wait instead, and are all published in order', async () => {
    const publisher = ctx.platform.createPublisher({ maxQueuedEvents: 200, maxBatchSize: 50 });
    await publisher.connect();
    try {
      let maxQueued = 0;
      let sawWaiting = false;
      const sample = (): void => {
        const { queued, waiting } = publisher.backlog;
        maxQueued = Math.max(maxQueued, queued);
        sawWaiting ||= waiting > 0;
      };
      const sampler = setInterval(sample, 1);
      const users = Array.from({ length: 10 }, (_, i) => `user-bp-${i}`);
      const events = Array.from({ length: 5_000 }, (_, i) => sampleEvent('PAYMENT_FAILED', { user_id: users[i % users.length] }));
      const results: PublishResult[] = await Promise.all(
        events.map((event) =>
          publisher.publish('PAYMENT_FAILED', event).then((result) => {
            sample();
            return result;
          }),
        ),
      ).finally(() => clearInterval(sampler));
      sample();

      expect(sawWaiting).toBe(true);
      expect(maxQueued).toBe(200);
      expect(publisher.backlog).toEqual({ queued: 0, waiting: 0 });
      expect(await countRecords(ctx.platform.kafka, ctx.topics.payment)).toBe(5_000);
      // Waiting kept each user's publish order: offsets rise in the order the events were published.
      for (const user of users) {
        const offsets = results.filter((_, i) => events[i]?.user_id === user).map((r) => BigInt(r.offset));
        expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }
    } finally {
      await publisher.disconnect();
    }
  }, 120_000);

  it('a first publish of a type (the registry is asked) is not overtaken by the same user’s next event of a known type', async () => {
    // A registry client of its own: nothing cached yet.
    const registry = new EventRegistry({ url: ctx.platform.endpoints.schemaRegistryUrl });
    const publisher = new Publisher({ kafka: ctx.platform.kafka, registry, topics: ctx.topics });
    await publisher.connect();
    try {
      await publisher.publish('PAYMENT_FAILED', sampleEvent('PAYMENT_FAILED', { user_id: 'user-first' }));
      const first = publisher.publish('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-first' }));
      const second = publisher.publish('PAYMENT_FAILED', sampleEvent('PAYMENT_FAILED', { user_id: 'user-first' }));
      const [a, b] = await Promise.all([first, second]);
      expect(b.partition).toBe(a.partition);
      expect(BigInt(b.offset)).toBeGreaterThan(BigInt(a.offset));
    } finally {
      await publisher.disconnect();
    }
  });

  it('refuses a bad option at construction, naming it', () => {
    const { kafka, registry } = ctx.platform;
    expect(() => new Publisher({ kafka, registry, maxQueuedEvents: 0 })).toThrow(ConfigError);
    expect(() => new Publisher({ kafka, registry, maxQueuedEvents: 0 })).toThrow(/maxQueuedEvents/);
    expect(() => new Publisher({ kafka, registry, lingerMs: 30 * 24 * 60 * 60 * 1_000 })).toThrow(/lingerMs/);
    expect(() => new Publisher({ kafka, registry, compression: 'snappy' as 'gzip' })).toThrow(/compression/);
    expect(() => new Outbox({ topics: { auth: '', payment: 'payment.events' } })).toThrow(/topics\.auth/);
    const relay = { kafka, registry, db: ctx.db, databaseUrl: ctx.databaseUrl };
    expect(() => new OutboxRelay({ ...relay, metadataMaxAgeMs: -1 })).toThrow(/metadataMaxAgeMs/);
    expect(() => new OutboxRelay({ ...relay, outageBackoff: { initialMs: 0, maxMs: 10 } })).toThrow(/outageBackoff\.initialMs/);
    // Past setTimeout's ceiling (24.8 days) a wait would fire at once.
    expect(() => new OutboxRelay({ ...relay, pollIntervalMs: 25 * 24 * 60 * 60 * 1_000 })).toThrow(/pollIntervalMs/);
    expect(() => new OutboxRelay({ ...relay, outageBackoff: { initialMs: 1_000, maxMs: 10 } })).toThrow(/outageBackoff\.maxMs/);
  });
});
