import type { Trx } from '../../src/db/database';
import { sampleEvent } from '../../src/events/samples';
import type { Outbox } from '../../src/outbox/outbox';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { EVENT_ID_HEADER, type Publisher } from '../../src/producer/publisher';
import { javaPartitionsFor } from '../helpers/java-partitioner';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/** How often the SDK and the relay re-read metadata in this test; the default is 10 s. */
const METADATA_MAX_AGE_MS = 2_000;

describe('the publisher follows the cluster: partitions added mid-run', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let outbox: Outbox;
  let relay: OutboxRelay;
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}-${Math.random().toString(36).slice(2, 6)}`);

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 3 });
    publisher = ctx.platform.createPublisher({ metadataMaxAgeMs: METADATA_MAX_AGE_MS });
    await publisher.connect();
    outbox = ctx.platform.createOutbox();
    relay = new OutboxRelay({
      kafka: ctx.platform.kafka,
      db: ctx.db,
      databaseUrl: ctx.databaseUrl,
      registry: ctx.platform.registry,
      metadataMaxAgeMs: METADATA_MAX_AGE_MS,
      pollIntervalMs: 200,
    });
    await relay.start();
  });

  afterAll(async () => {
    await relay?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  /** One event per user through the SDK; the partition each landed on. */
  const publishRound = async (): Promise<number[]> => {
    const results = await Promise.all(users.map((user_id) => publisher.publish('PAYMENT_FAILED', sampleEvent('PAYMENT_FAILED', { user_id }))));
    return results.map((r) => r.partition);
  };

  /** One event per user through the outbox and the relay; the partition each landed on. */
  const relayRound = async (): Promise<number[]> => {
    const events = users.map((user_id) => sampleEvent('PAYMENT_FAILED', { user_id }));
    await ctx.db.transaction(async (trx: Trx) => {
      for (const event of events) await outbox.enqueue(trx, 'PAYMENT_FAILED', event);
    });
    const ids = new Set(events.map((e) => e.event_id));
    const records = await waitFor('the relay to publish the round', async () => {
      const found = (await readTopic(ctx.platform.kafka, ctx.topics.payment)).filter((r) => ids.has(r.headers[EVENT_ID_HEADER] ?? ''));
      return found.length === events.length ? found : undefined;
    });
    const partitionOf = new Map(records.map((r) => [r.headers[EVENT_ID_HEADER], r.partition]));
    return events.map((e) => partitionOf.get(e.event_id) ?? -1);
  };

  it('the SDK, the outbox relay and Java’s partitioner agree on every key, before and after partitions are added', async () => {
    const java3 = javaPartitionsFor(users, 3);
    const java6 = javaPartitionsFor(users, 6);
    // The keys move: otherwise the test could not tell a stale partition count from a fresh one.
    expect(java6.filter((p, i) => p !== java3[i]).length).toBeGreaterThan(10);

    expect(await publishRound()).toEqual(java3);
    expect(await relayRound()).toEqual(java3);

    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    await admin.createPartitions({ topicPartitions: [{ topic: ctx.topics.payment, count: 6 }] });
    await admin.disconnect();
    const addedAt = Date.now();

    // Publishing goes on all along; within the metadata age every key is where Java puts it.
    await waitFor('the SDK to place every key as Java does with 6 partitions', async () => (await publishRound()).every((p, i) => p === java6[i]), 30_000, 200);
    const sdkFollowedMs = Date.now() - addedAt;
    await waitFor('the relay to place every key as Java does with 6 partitions', async () => (await relayRound()).every((p, i) => p === java6[i]), 30_000, 200);
    const relayFollowedMs = Date.now() - addedAt;
    console.log(`partitions added: the SDK followed after ${sdkFollowedMs} ms, the relay after ${relayFollowedMs} ms (metadata age ${METADATA_MAX_AGE_MS} ms)`);

    // And they stay there.
    expect(await publishRound()).toEqual(java6);
    expect(await relayRound()).toEqual(java6);
    // Bounded by the metadata age, plus a publish round and the relay's poll on a busy machine.
    expect(sdkFollowedMs).toBeLessThan(METADATA_MAX_AGE_MS + 10_000);
  }, 120_000);
});
