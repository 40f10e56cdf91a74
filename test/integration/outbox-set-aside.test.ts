import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import type { Trx } from '../../src/db/database';
import { PublishError } from '../../src/errors';
import type { EventMap } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { ensureTopics } from '../../src/kafka/topics';
import { Outbox } from '../../src/outbox/outbox';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { EVENT_ID_HEADER, eventHeaders } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/** The payment topic of this test accepts records (batches) of at most this many bytes… */
const MAX_MESSAGE_BYTES = 8_192;
/** …with a timestamp at most this far in the past. */
const MAX_AGE_MS = 24 * 60 * 60 * 1_000;

describe('outbox: a row the broker refuses for good is set aside and blocks nothing', () => {
  let ctx: TestContext;
  let outbox: Outbox;
  let relay: OutboxRelay | undefined;

  beforeAll(async () => {
    ctx = await createTestContext();
    outbox = ctx.platform.createOutbox();
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: ctx.topics.payment,
          configEntries: [
            { name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) },
            { name: 'message.timestamp.before.max.ms', value: String(MAX_AGE_MS) },
          ],
        },
      ],
    });
    await admin.disconnect();
  });

  afterAll(async () => {
    await relay?.stop();
    await ctx?.dispose();
  });

  const enqueue = (event: EventMap['PAYMENT_FAILED'], headers?: Record<string, string>) =>
    ctx.db.transaction((trx: Trx) => outbox.enqueue(trx, 'PAYMENT_FAILED', event, { headers }));

  it('sets aside a record too large for the topic and one with a timestamp out of range, with their errors; the rows after them, of the same key and of others, are published in order', async () => {
    const before = sampleEvent('PAYMENT_FAILED', { user_id: 'user-a' });
    const tooLarge = sampleEvent('PAYMENT_FAILED', { user_id: 'user-a' });
    const afterSameKey = sampleEvent('PAYMENT_FAILED', { user_id: 'user-a' });
    const tooOld = sampleEvent('PAYMENT_FAILED', { user_id: 'user-b', occurred_at: Date.now() - 2 * MAX_AGE_MS });
    const afterOtherKeys = Array.from({ length: 20 }, (_, i) => sampleEvent('PAYMENT_FAILED', { user_id: `user-other-${i}` }));
    const lastSameKey = sampleEvent('PAYMENT_FAILED', { user_id: 'user-a' });

    await enqueue(before);
    // A header is part of the record: 20 KB of it exceed the topic's limit.
    await enqueue(tooLarge, { 'x-attachment': 'x'.repeat(20_000) });
    await enqueue(afterSameKey);
    await enqueue(tooOld);
    for (const event of afterOtherKeys) await enqueue(event);
    await enqueue(lastSameKey);

    relay = new OutboxRelay({ kafka: ctx.platform.kafka, db: ctx.db, databaseUrl: ctx.databaseUrl, registry: ctx.platform.registry, pollIntervalMs: 200 });
    await relay.start();

    const published = [before, afterSameKey, ...afterOtherKeys, lastSameKey];
    await waitFor('every other row published', async () => (await ctx.db('outbox').whereNotNull('published_at').count('* as n').first())?.n === String(published.length), 60_000);

    const setAside = await ctx.db('outbox').whereNotNull('set_aside_at').orderBy('id').select('event_id', 'set_aside_code', 'set_aside_reason', 'published_at');
    expect(setAside).toEqual([
      { event_id: tooLarge.event_id, set_aside_code: 'MESSAGE_TOO_LARGE', set_aside_reason: expect.stringMatching(/larger than the max message size/), published_at: null },
      { event_id: tooOld.event_id, set_aside_code: 'INVALID_TIMESTAMP', set_aside_reason: expect.stringMatching(/timestamp/), published_at: null },
    ]);
    expect(relay.stats.setAside).toBe(2);
    expect(relay.stats.published).toBe(published.length);

    const records = (await readTopic(ctx.platform.kafka, ctx.topics.payment)).filter((r) => r.headers[EVENT_ID_HEADER]);
    expect(new Set(records.map((r) => r.headers[EVENT_ID_HEADER]))).toEqual(new Set(published.map((e) => e.event_id)));
    // The key's order holds among its published rows; the set-aside one is the gap.
    const userA = [...new Set(records.filter((r) => r.key === 'user-a').map((r) => r.headers[EVENT_ID_HEADER]))];
    expect(userA).toEqual([before.event_id, afterSameKey.event_id, lastSameKey.event_id]);

    // Still working: a row enqueued now is published too.
    const later = sampleEvent('PAYMENT_FAILED', { user_id: 'user-a' });
    await enqueue(later);
    await waitFor('the later row published', async () => (await ctx.db('outbox').where({ event_id: later.event_id }).whereNotNull('published_at')).length === 1);
  }, 120_000);

  it('sets aside a row whose topic does not exist and one whose schema is not registered; the next row is published', async () => {
    await relay?.stop();
    // kafkajs gives up on a missing topic after its retries (about 18 s with Tidings' settings); fewer here.
    const kafka = new Kafka({ brokers: ctx.platform.endpoints.kafkaBrokers, clientId: `test-${ctx.id}-few-retries`, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 2 } });
    relay = new OutboxRelay({ kafka, db: ctx.db, databaseUrl: ctx.databaseUrl, registry: ctx.platform.registry, pollIntervalMs: 200 });
    await relay.start();

    // A row in the wire format (as another language would write it) for a topic nobody created.
    const lost = sampleEvent('PAYMENT_FAILED', { user_id: 'user-c' });
    const missingTopic = `${ctx.id}.no-such-topic`;
    await ctx.db('outbox').insert({
      event_id: lost.event_id,
      event_type: 'PAYMENT_FAILED',
      topic: missingTopic,
      message_key: lost.user_id,
      value: await ctx.platform.registry.encode('PAYMENT_FAILED', ctx.topics.payment, lost),
      headers: eventHeaders('PAYMENT_FAILED', lost.event_id),
      occurred_at: new Date(lost.occurred_at),
    });
    // A topic that exists, with no schema registered for it.
    const unregisteredTopic = `${ctx.id}.unregistered`;
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: unregisteredTopic, partitions: 1 }]);
    await admin.disconnect();
    const unregistered = sampleEvent('PAYMENT_FAILED', { user_id: 'user-c' });
    await ctx.db.transaction((trx: Trx) => new Outbox({ topics: { ...ctx.topics, payment: unregisteredTopic } }).enqueue(trx, 'PAYMENT_FAILED', unregistered));
    const next = sampleEvent('PAYMENT_FAILED', { user_id: 'user-c' });
    await enqueue(next);

    await waitFor('the next row published', async () => (await ctx.db('outbox').where({ event_id: next.event_id }).whereNotNull('published_at')).length === 1, 60_000);
    const rows = await ctx.db('outbox').whereIn('event_id', [lost.event_id, unregistered.event_id]).select('event_id', 'set_aside_code', 'set_aside_reason');
    expect(rows).toEqual(
      expect.arrayContaining([
        { event_id: lost.event_id, set_aside_code: 'TOPIC_MISSING', set_aside_reason: expect.stringContaining(missingTopic) },
        { event_id: unregistered.event_id, set_aside_code: 'SCHEMA_NOT_REGISTERED', set_aside_reason: expect.stringMatching(/not registered/) },
      ]),
    );
    expect(relay.stats.setAside).toBe(2);
  }, 120_000);

  it('the Publisher fails only the refused event, with a PublishError that is not retriable; the events batched with it are published', async () => {
    const publisher = ctx.platform.createPublisher({ lingerMs: 50 });
    await publisher.connect();
    try {
      const others = Array.from({ length: 10 }, (_, i) => sampleEvent('PAYMENT_FAILED', { user_id: `user-direct-${i}` }));
      const big = sampleEvent('PAYMENT_FAILED', { user_id: 'user-direct-0' });
      // Published together, so they share a request.
      const [refused, ...published] = await Promise.allSettled([
        publisher.publish('PAYMENT_FAILED', big, { headers: { 'x-attachment': 'x'.repeat(20_000) } }),
        ...others.map((event) => publisher.publish('PAYMENT_FAILED', event)),
      ]);
      expect(refused?.status).toBe('rejected');
      const failure = (refused as PromiseRejectedResult).reason as unknown;
      expect(failure).toBeInstanceOf(PublishError);
      expect(failure).toMatchObject({ code: 'PUBLISH_FAILED', retriable: false });
      expect((failure as PublishError).message).toMatch(/larger than the max message size/);
      expect(published.map((p) => p.status)).toEqual(others.map(() => 'fulfilled'));
      const onTopic = new Set((await readTopic(ctx.platform.kafka, ctx.topics.payment)).map((r) => r.headers[EVENT_ID_HEADER]));
      for (const event of others) expect(onTopic.has(event.event_id)).toBe(true);
      expect(onTopic.has(big.event_id)).toBe(false);
    } finally {
      await publisher.disconnect();
    }
  });
});
