import { createDb } from '../../src/db/database';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { benchEvents } from '../harness/fixtures';
import { openIsolatedStack } from '../harness/isolated-stack';
import { eventsOn, publishAll } from '../harness/pipeline-drain';
import { fromSamples, perSecond, type Scenario } from '../harness/scenario';

/** Rows per enqueuing transaction (not timed): a service writing its outbox in batches. */
const ENQUEUE_BATCH = 500;
const POLL_MS = 20;
const QUICK_EVENTS = 5_000;
/** The relay's default batch; a service's ordinary set-up. */
const EVENTS = 50_000;

/**
 * The outbox relay draining a backlog of committed outbox rows (read in per-key order, Avro
 * encoding deferred to the relay, published by the idempotent producer, marked published)
 * against the SDK publishing the same events directly. Each round enqueues the events into a
 * fresh database first (not timed), then times the relay from start until every row is marked
 * published, then times the direct publish. Both are checked against the topics' offsets.
 */
export const outboxRelay: Scenario = {
  name: 'outbox-relay',
  description: 'outbox relay draining committed rows (per-key order, deferred Avro encoding, mark published) vs Publisher.publish of the same events',
  async run(ctx) {
    const events = benchEvents(ctx.quick ? QUICK_EVENTS : Math.min(ctx.events, EVENTS));
    const own = await openIsolatedStack(await ctx.stack(), 'relay');
    try {
      const relayRates: number[] = [];
      const publishRates: number[] = [];
      let onTopics = 0;
      for (let round = 1; round <= ctx.rounds; round++) {
        const databaseUrl = await own.createDatabase();
        const platform = own.platform({ databaseUrl });
        const outbox = platform.createOutbox();
        for (let i = 0; i < events.length; i += ENQUEUE_BATCH) {
          await platform.db.transaction(async (trx) => {
            for (const { type, event } of events.slice(i, i + ENQUEUE_BATCH)) await outbox.enqueue(trx, type, event);
          });
        }
        // The relay's own pool, as in `tidings run outbox-relay`.
        const db = createDb(databaseUrl, { schema: platform.endpoints.databaseSchema });
        const relay = new OutboxRelay({ kafka: platform.kafka, db, databaseUrl, registry: platform.registry });
        try {
          const start = process.hrtime.bigint();
          await relay.start();
          while (relay.stats.published < events.length) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          relayRates.push(perSecond(events.length, process.hrtime.bigint() - start));
        } finally {
          await relay.stop();
          await db.destroy();
        }
        const unpublished = await platform.db('outbox').whereNull('published_at').count({ n: '*' }).first();
        if (Number((unpublished as { n: string } | undefined)?.n) !== 0) throw new Error(`rows left unpublished after round ${round}`);
        const start = process.hrtime.bigint();
        await publishAll(platform, events);
        publishRates.push(perSecond(events.length, process.hrtime.bigint() - start));
        onTopics += 2 * events.length;
        const found = await eventsOn(platform, own.topics);
        if (found !== onTopics) throw new Error(`expected ${onTopics} records on the topics after round ${round}, found ${found}`);
        ctx.progress(`  round ${round}: relay ${Math.round(relayRates.at(-1) ?? 0)} rows/s, publish ${Math.round(publishRates.at(-1) ?? 0)} events/s`);
      }
      const detail = { events: events.length, relayBatch: 500, enqueueBatch: ENQUEUE_BATCH };
      return {
        measurements: [fromSamples('relay', 'events/s', relayRates, detail), fromSamples('publish', 'events/s', publishRates, detail)],
        comparisons: [
          { measurement: 'relay', baseline: 'publish', note: 'outbox relay ÷ Publisher.publish of the same events, same broker' },
          { measurement: 'relay', baseline: 'publish/raw-kafkajs', note: 'outbox relay ÷ raw kafkajs sendBatch of pre-encoded bytes (publish scenario)' },
        ],
      };
    } finally {
      await own.dispose();
    }
  },
};
