import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Consumer, IHeaders } from 'kafkajs';
import { startNotificationConsumer } from '../../consumers/notification';
import type { Trx } from '../../src/db/database';
import type { EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { newTraceparent } from '../../src/observability/trace-context';
import type { Outbox } from '../../src/outbox/outbox';
import { OutboxRelay, type OutboxRelayOptions } from '../../src/outbox/outbox-relay';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

interface RawRecord {
  topic: string;
  partition: number;
  key: string | undefined;
  value: Buffer;
  headers: Record<string, string>;
  eventId: string | undefined;
}

/** Every record on the test's topics, read raw (no decoding, no deduplication). */
class RawCollector {
  readonly records: RawRecord[] = [];
  private constructor(private readonly consumer: Consumer) {}

  static async start(ctx: TestContext): Promise<RawCollector> {
    const consumer = ctx.platform.kafka.consumer({ groupId: ctx.groupId('raw-collector'), maxWaitTimeInMs: 100 });
    const collector = new RawCollector(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [ctx.topics.auth, ctx.topics.payment], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers = stringHeaders(message.headers);
        collector.records.push({ topic, partition, key: message.key?.toString(), value: message.value ?? Buffer.alloc(0), headers, eventId: headers[EVENT_ID_HEADER] });
      },
    });
    return collector;
  }

  withEventId(eventId: string): RawRecord[] {
    return this.records.filter((r) => r.eventId === eventId);
  }

  stop(): Promise<void> {
    return this.consumer.disconnect();
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) out[name] = value.toString();
  return out;
}

describe('transactional outbox: enqueue in the business transaction, the relay publishes', () => {
  let ctx: TestContext;
  let outbox: Outbox;
  let collector: RawCollector;
  const relays: OutboxRelay[] = [];
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    ctx = await createTestContext();
    outbox = ctx.platform.createOutbox();
    collector = await RawCollector.start(ctx);
    await ctx.db.schema.createTable('orders', (t) => {
      t.text('id').primary();
      t.text('user_id').notNullable();
    });
  });

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await collector?.stop();
    await ctx?.dispose();
  });

  const startRelay = async (options: Partial<Omit<OutboxRelayOptions, 'kafka' | 'db' | 'databaseUrl' | 'registry'>> = {}): Promise<OutboxRelay> => {
    const relay = new OutboxRelay({ kafka: ctx.platform.kafka, db: ctx.db, databaseUrl: ctx.databaseUrl, registry: ctx.platform.registry, ...options });
    relays.push(relay);
    await relay.start();
    return relay;
  };

  /** The caller's business change and its event, in one transaction. */
  const placeOrder = async <T extends EventType>(trx: Trx, type: T, event: EventMap[T]): Promise<void> => {
    await trx('orders').insert({ id: event.event_id, user_id: event.user_id });
    await outbox.enqueue(trx, type, event);
  };

  const commitMarker = async (userId: string) => {
    const marker = sampleEvent('PAYMENT_FAILED', { user_id: userId });
    marker.recipient = { ...marker.recipient, email: `marker-${marker.event_id}@example.com` };
    await ctx.db.transaction((trx) => placeOrder(trx, 'PAYMENT_FAILED', marker));
    return marker;
  };

  // waitFor returns only a truthy value, so the record is there.
  const published = async (eventId: string, timeoutMs?: number): Promise<RawRecord> =>
    (await waitFor(`event ${eventId} on the topic`, () => collector.withEventId(eventId)[0], timeoutMs)) as RawRecord;

  it('publishes an event of a committed transaction once, in the wire format, with its headers', async () => {
    await startRelay();
    const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-commit' });
    const traceparent = newTraceparent();
    await ctx.db.transaction(async (trx) => {
      await trx('orders').insert({ id: event.event_id, user_id: event.user_id });
      await outbox.enqueue(trx, 'PAYMENT_SUCCEEDED', event, { traceparent, headers: { 'x-origin': 'checkout' } });
    });

    const record = await published(event.event_id);
    expect(record.topic).toBe(ctx.topics.payment);
    expect(record.key).toBe('user-commit');
    expect(record.value[0]).toBe(0);
    const decoded = await ctx.platform.registry.decode(record.value);
    expect(decoded.definition.type).toBe('PAYMENT_SUCCEEDED');
    expect(decoded.payload.event_id).toBe(event.event_id);
    expect(record.headers[EVENT_TYPE_HEADER]).toBe('PAYMENT_SUCCEEDED');
    expect(record.headers['x-origin']).toBe('checkout');
    // A child span of the caller's trace.
    expect(record.headers.traceparent?.split('-')[1]).toBe(traceparent.split('-')[1]);
    expect(record.headers.traceparent).not.toBe(traceparent);

    const row = await waitFor('row marked published', async () => (await ctx.db('outbox').where({ event_id: event.event_id }).whereNotNull('published_at'))[0]);
    expect(row).toBeDefined();
    // A later event of the same user (same partition) arrives, and the first is still there once.
    const marker = await commitMarker('user-commit');
    await published(marker.event_id);
    expect(collector.withEventId(event.event_id)).toHaveLength(1);
  });

  it('publishes nothing for a rolled-back transaction, and does not even wake the relay', async () => {
    const relay = await startRelay({ pollIntervalMs: 60_000 });
    const doomed = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-rollback' });
    await expect(
      ctx.db.transaction(async (trx) => {
        await placeOrder(trx, 'PAYMENT_SUCCEEDED', doomed);
        throw new Error('card declined by the business rules');
      }),
    ).rejects.toThrow('card declined');

    const marker = await commitMarker('user-rollback');
    await published(marker.event_id);
    expect(collector.withEventId(doomed.event_id)).toHaveLength(0);
    expect(await ctx.db('outbox').where({ event_id: doomed.event_id })).toHaveLength(0);
    expect(await ctx.db('orders').where({ id: doomed.event_id })).toHaveLength(0);
    expect(relay.stats.notifications).toBe(1);
  });

  it('with two relays running, publishes 2,000 events of 50 users exactly once, each user’s in enqueue order', async () => {
    const a = await startRelay({ batchSize: 100, pollIntervalMs: 200 });
    const b = await startRelay({ batchSize: 100, pollIntervalMs: 200 });
    await waitFor('the relays to split the buckets', () => a.stats.buckets.length === 8 && b.stats.buckets.length === 8);
    expect(new Set([...a.stats.buckets, ...b.stats.buckets]).size).toBe(16);

    const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    const expected = new Map<string, string[]>(users.map((u) => [u, []]));
    // Four writers in parallel, each owning a set of users and committing 10 events per transaction.
    const writers = [0, 1, 2, 3].map(async (w) => {
      const own = users.filter((_, i) => i % 4 === w);
      const events = Array.from({ length: 2000 / 4 }, (_, i) => {
        const userId = own[i % own.length] ?? '';
        const type = i % 3 === 0 ? 'PAYMENT_FAILED' : 'PAYMENT_SUCCEEDED';
        return { type, event: sampleEvent(type, { user_id: userId }) } as const;
      });
      for (let i = 0; i < events.length; i += 10) {
        const chunk = events.slice(i, i + 10);
        await ctx.db.transaction(async (trx) => {
          for (const { type, event } of chunk) await placeOrder(trx, type, event);
        });
        for (const { event } of chunk) expected.get(event.user_id)?.push(event.event_id);
      }
    });
    await Promise.all(writers);

    const ids = new Set([...expected.values()].flat());
    expect(ids.size).toBe(2000);
    await waitFor('every row marked published', async () => (await ctx.db('outbox').whereNull('published_at').count('* as n').first())?.n === '0', 60_000);
    await waitFor('2,000 records on the topic', () => collector.records.filter((r) => r.eventId && ids.has(r.eventId)).length >= 2000, 60_000);

    const records = collector.records.filter((r) => r.eventId && ids.has(r.eventId));
    expect(records).toHaveLength(2000);
    expect(new Set(records.map((r) => r.eventId)).size).toBe(2000);
    for (const user of users) {
      const arrived = records.filter((r) => r.key === user).map((r) => r.eventId);
      expect(arrived).toEqual(expected.get(user));
    }
    expect(a.stats.published + b.stats.published).toBe(2000);
    expect(a.stats.published).toBeGreaterThan(0);
    expect(b.stats.published).toBeGreaterThan(0);
  });

  it('never lets a committed event overtake an earlier-enqueued event of the same user whose transaction is still open', async () => {
    const relay = await startRelay({ pollIntervalMs: 60_000 });
    const first = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-fence' });
    const second = sampleEvent('PAYMENT_FAILED', { user_id: 'user-fence' });

    const slow = await ctx.db.transaction();
    try {
      await placeOrder(slow, 'PAYMENT_SUCCEEDED', first);
      await ctx.db.transaction((trx) => placeOrder(trx, 'PAYMENT_FAILED', second));
      // The relay has seen the committed row and held it back behind the open transaction.
      await waitFor('the relay to hold a row behind the fence', () => relay.stats.fenceWaits > 0);
      expect(collector.withEventId(second.event_id)).toHaveLength(0);
      expect(await ctx.db('outbox').whereNotNull('published_at').count('* as n').first()).toEqual({ n: '0' });
      await slow.commit();
    } finally {
      // A failed assertion must not leave a connection in a transaction (teardown would wait for it).
      if (!slow.isCompleted()) await slow.rollback();
    }
    await published(second.event_id);
    const order = collector.records.filter((r) => r.key === 'user-fence').map((r) => r.eventId);
    expect(order).toEqual([first.event_id, second.event_id]);
  });

  it('when its database session is killed, the relay reconnects, LISTENs again and keeps publishing', async () => {
    const relay = await startRelay({ pollIntervalMs: 60_000, outageBackoff: { initialMs: 50, maxMs: 500 } });
    const relayBackends = async (): Promise<number[]> =>
      (await ctx.db('pg_stat_activity').where({ application_name: 'tidings-outbox-relay', datname: `tidings_${ctx.id}` }).select('pid')).map((r: { pid: number }) => r.pid);
    const before = Number((await relayBackends())[0]);
    await ctx.db.raw('SELECT pg_terminate_backend(?)', [before]);

    await waitFor('a new relay session holding every bucket', async () => {
      const now = await relayBackends();
      return now.length === 1 && now[0] !== before && relay.stats.buckets.length === 16;
    });
    const event = sampleEvent('LOGIN_ALERT', { user_id: 'user-reconnect' });
    await ctx.db.transaction((trx) => placeOrder(trx, 'LOGIN_ALERT', event));
    await published(event.event_id, 5_000);
  });

  it('wakes on NOTIFY: with a 60 s poll interval, a committed event is published within seconds', async () => {
    const relay = await startRelay({ pollIntervalMs: 60_000 });
    const event = sampleEvent('USER_REGISTERED', { user_id: 'user-notify' });
    await ctx.db.transaction((trx) => placeOrder(trx, 'USER_REGISTERED', event));
    const record = await published(event.event_id, 10_000);
    expect(record.topic).toBe(ctx.topics.auth);
    expect(relay.stats.notifications).toBeGreaterThanOrEqual(1);
  });

  it('when the relay dies after the broker acknowledged and before marking the rows, the events are published again and the consumer keeps one receipt and one email each', async () => {
    const payments = Array.from({ length: 5 }, (_, i) => {
      const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-crash' });
      event.recipient = { ...event.recipient, email: `crash-${i}@example.com` };
      return event;
    });
    await ctx.db.transaction(async (trx) => {
      for (const event of payments) await placeOrder(trx, 'PAYMENT_SUCCEEDED', event);
    });
    const consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification') });
    try {
      const crashed = await runRelayProcess({ TIDINGS_FAULT: 'outbox.after-ack' }).exited;
      expect(crashed.signal).toBe('SIGKILL');
      // Acknowledged by the broker, never marked.
      await waitFor('the first copies on the topic', () => payments.every((p) => collector.withEventId(p.event_id).length === 1));
      expect(await ctx.db('outbox').whereNull('published_at').count('* as n').first()).toEqual({ n: '5' });

      const marker = await commitMarker('user-crash');
      const relay = runRelayProcess({});
      await waitFor('every row marked published', async () => (await ctx.db('outbox').whereNull('published_at').count('* as n').first())?.n === '0');
      await waitFor('the second copies on the topic', () => payments.every((p) => collector.withEventId(p.event_id).length === 2));
      await published(marker.event_id);

      // The marker follows the duplicates on the user's partition: once it is mailed, they were consumed.
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(marker.recipient.email)), 60_000);
      for (const p of payments) {
        expect(collector.withEventId(p.event_id)).toHaveLength(2);
        expect(await ctx.db('receipts').where({ event_id: p.event_id })).toHaveLength(1);
        expect(ctx.mail.to(p.recipient.email)).toHaveLength(1);
      }

      relay.process.kill('SIGTERM');
      expect(await relay.exited).toEqual({ code: 0, signal: null });
    } finally {
      await consumer.stop();
    }
  });

  /** `tidings run outbox-relay` as its own process, pointed at this test's database. */
  function runRelayProcess(env: Record<string, string>): { process: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
    const { TIDINGS_FAULT: _inherited, ...parentEnv } = process.env;
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), 'run', 'outbox-relay'], {
      env: {
        ...parentEnv,
        DATABASE_URL: ctx.databaseUrl,
        KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay process did not exit within 60 s; output:\n${output}`)), 60_000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code !== 0 && signal === null) reject(new Error(`relay process exited with ${code}; output:\n${output}`));
        else resolve({ code, signal });
      });
    });
    // Observed by the test only where it cares; never an unhandled rejection.
    exited.catch(() => undefined);
    return { process: child, exited };
  }
});
