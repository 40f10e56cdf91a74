import type { Trx } from '../../src/db/database';
import { sampleEvent } from '../../src/events/samples';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import type { Platform } from '../../src/platform';
import { EVENT_ID_HEADER, eventHeaders } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { platformBehindRegistryProxy } from '../helpers/registry-proxy';
import type { TcpProxy } from '../helpers/tcp-proxy';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

describe('outbox: the registry is never needed inside the business transaction', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  /** This test's services: their registry URL goes through the proxy, so the test can cut it. */
  let platform: Platform;
  const relays: OutboxRelay[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    ({ proxy, platform } = await platformBehindRegistryProxy(ctx));
    await ctx.db.schema.createTable('orders', (t) => {
      t.text('id').primary();
      t.text('user_id').notNullable();
    });
  });

  afterEach(async () => {
    proxy.restore();
    await Promise.all(relays.splice(0).map((r) => r.stop()));
  });

  afterAll(async () => {
    await proxy?.close();
    await platform?.close();
    await ctx?.dispose();
  });

  const startRelay = async (outageBackoff: { initialMs: number; maxMs: number }): Promise<OutboxRelay> => {
    const relay = new OutboxRelay({ kafka: platform.kafka, db: ctx.db, databaseUrl: ctx.databaseUrl, registry: platform.registry, pollIntervalMs: 200, outageBackoff });
    relays.push(relay);
    await relay.start();
    return relay;
  };

  const recordsOf = async (eventId: string) => (await readTopic(ctx.platform.kafka, ctx.topics.payment)).filter((r) => r.headers[EVENT_ID_HEADER] === eventId);

  it('with the registry unreachable, the business transaction commits; the relay publishes nothing until the registry is back, then the exact event', async () => {
    // A long beyond 32 bits and money in minor units: they must come out exactly as they went in.
    const event = sampleEvent('PAYMENT_SUCCEEDED', {
      user_id: 'user-outage',
      amount: { amount_minor: 4_503_599_627_370_497, currency: 'JPY' },
      order_id: 'order-1',
    });
    proxy.cut();

    const outbox = platform.createOutbox();
    await ctx.db.transaction(async (trx: Trx) => {
      await trx('orders').insert({ id: event.event_id, user_id: event.user_id });
      await outbox.enqueue(trx, 'PAYMENT_SUCCEEDED', event);
    });
    expect(await ctx.db('orders').where({ id: event.event_id })).toHaveLength(1);
    expect(await ctx.db('outbox').where({ event_id: event.event_id })).toHaveLength(1);

    const relay = await startRelay({ initialMs: 100, maxMs: 500 });
    await waitFor('the relay to fail on the unreachable registry a few times', () => relay.stats.failures >= 3, 60_000);
    expect(await recordsOf(event.event_id)).toHaveLength(0);
    expect(await ctx.db('outbox').where({ event_id: event.event_id }).whereNull('published_at')).toHaveLength(1);

    proxy.restore();
    const [record] = await waitFor('the event on the topic', async () => {
      const found = await recordsOf(event.event_id);
      return found.length > 0 ? found : undefined;
    });
    expect(relay.stats.published).toBe(1);
    expect(relay.stats.setAside).toBe(0);
    // Byte for byte what Publisher.publish sends, so consumers cannot tell the paths apart…
    expect(record?.value?.equals(await ctx.platform.registry.encode('PAYMENT_SUCCEEDED', ctx.topics.payment, event))).toBe(true);
    // …and it decodes to the same event.
    const decoded = await ctx.platform.registry.decode(record?.value ?? null);
    expect(decoded.definition.type).toBe('PAYMENT_SUCCEEDED');
    expect(decoded.payload).toEqual({ ...event });
  }, 120_000);

  it('publishes a row stored in the Confluent wire format (written before migration 045, or by another language) as it is', async () => {
    const event = sampleEvent('PAYMENT_FAILED', { user_id: 'user-wire-format' });
    const value = await ctx.platform.registry.encode('PAYMENT_FAILED', ctx.topics.payment, event);
    await ctx.db('outbox').insert({
      event_id: event.event_id,
      event_type: 'PAYMENT_FAILED',
      topic: ctx.topics.payment,
      message_key: event.user_id,
      value,
      headers: eventHeaders('PAYMENT_FAILED', event.event_id),
      occurred_at: new Date(event.occurred_at),
    });
    await startRelay({ initialMs: 100, maxMs: 500 });
    const [record] = await waitFor('the event on the topic', async () => {
      const found = await recordsOf(event.event_id);
      return found.length > 0 ? found : undefined;
    });
    expect(record?.value?.equals(value)).toBe(true);
    expect(record?.key).toBe('user-wire-format');
  });

  it('stops promptly in the middle of an outage backoff', async () => {
    const event = sampleEvent('PAYMENT_FAILED', { user_id: 'user-stop' });
    proxy.cut();
    await ctx.db.transaction((trx: Trx) => platform.createOutbox().enqueue(trx, 'PAYMENT_FAILED', event));
    // After its first failure the relay waits at least 30 s (full jitter over 60 s, floor half of it).
    const relay = await startRelay({ initialMs: 60_000, maxMs: 60_000 });
    await waitFor('the first failure', () => relay.stats.failures >= 1, 60_000);
    const stopping = Date.now();
    relays.splice(relays.indexOf(relay), 1);
    await relay.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(await ctx.db('outbox').where({ event_id: event.event_id }).whereNull('published_at')).toHaveLength(1);
  }, 120_000);
});
