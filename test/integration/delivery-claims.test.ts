import { randomUUID } from 'node:crypto';
import type { EventRecord } from '../../src/consumer/messages';
import { createDb, type Db } from '../../src/db/database';
import { LocalTwilio } from '../../src/dev/local-twilio';
import { ConfigError } from '../../src/errors';
import type { EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { ChannelName } from '../../src/notifications/channels/channel';
import type { ChannelSender } from '../../src/notifications/channels/channel-sender';
import { DeferredDispatcher } from '../../src/notifications/deferred-dispatcher';
import { NotificationHandler, type NotificationHandlerOptions } from '../../src/notifications/notification-handler';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { SmtpProvider } from '../../src/notifications/providers/smtp-provider';
import { TwilioSmsProvider } from '../../src/notifications/providers/twilio-sms';
import { TcpProxy } from '../helpers/tcp-proxy';
import { RateLimiter } from '../../src/notifications/rate-limiter';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/**
 * Delivery under concurrency and faults: ledger rows are claimed before a send, so two
 * deliverers handed the same events send each message once; a dead owner's rows are taken
 * over after the lease; a chunk interrupted by a database error leaves no send behind;
 * rate limits count sends, not attempts; the quiet-hours dispatcher sends outside transactions.
 */
describe('delivery claims', () => {
  let ctx: TestContext;
  let twilio: LocalTwilio;
  const pools: Db[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    twilio = await LocalTwilio.start();
  });

  afterAll(async () => {
    ctx?.mail.slowDown(0);
    for (const close of closers) await close();
    for (const db of pools) await db.destroy();
    await twilio?.close();
    await ctx?.dispose();
  });

  afterEach(() => {
    ctx.mail.slowDown(0);
    ctx.mail.refuse(undefined);
    twilio.fail(undefined);
  });

  /** A pool of its own, like another process's. */
  function pool(url = ctx.databaseUrl): Db {
    const db = createDb(url);
    pools.push(db);
    return db;
  }

  function email(name: string): FailoverProvider {
    const provider = new FailoverProvider({
      channel: 'email',
      providers: [new SmtpProvider({ name, url: ctx.mail.url, from: 'Tidings <no-reply@tidings.test>', maxConnections: 8 })],
      circuit: { failureThreshold: 1_000 },
    });
    closers.push(() => provider.close());
    return provider;
  }

  function sms(): FailoverProvider {
    return new FailoverProvider({
      channel: 'sms',
      providers: [new TwilioSmsProvider({ name: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url })],
      circuit: { failureThreshold: 1_000 },
    });
  }

  function handler(options: Partial<NotificationHandlerOptions> & { channels: Partial<Record<ChannelName, ChannelSender>> }): NotificationHandler {
    const h = new NotificationHandler({ db: options.db ?? pool(), leaseMs: 60_000, ...options });
    closers.push(async () => h.close());
    return h;
  }

  function record<T extends EventType>(type: T, overrides: Partial<EventMap[T]> = {}): EventRecord {
    const payload = sampleEvent(type, overrides);
    const user = String(payload.user_id);
    payload.recipient = { ...payload.recipient, email: `${user}-${randomUUID().slice(0, 8)}@example.com`, phone: '+15557654321', locale: 'en-US', time_zone: 'UTC' };
    return { topic: ctx.topics.auth, partition: 0, offset: '0', key: user, value: null, headers: {}, timestamp: String(Date.now()), type, eventId: payload.event_id, schemaId: 1, payload: payload as unknown as EventRecord['payload'] };
  }

  /** The effects transaction, as the consumer runtime runs it. */
  async function apply(h: NotificationHandler, events: EventRecord[]): Promise<void> {
    await ctx.db.transaction((trx) => h.apply(events, trx));
  }

  const mailsOf = (eventId: string) => ctx.mail.messages.filter((m) => m.headers['x-tidings-event-id'] === eventId);

  it('two instances handed the same events at once send each email exactly once', async () => {
    ctx.mail.slowDown(300);
    const first = handler({ channels: { email: email('smtp-a') } });
    const second = handler({ channels: { email: email('smtp-b') } });
    const events = Array.from({ length: 12 }, () => record('PASSWORD_RESET_REQUESTED'));
    await apply(first, events);

    const [a, b] = await Promise.all([first.deliver(events), second.deliver(events)]);

    expect([...a, ...b]).toEqual([]);
    for (const e of events) expect(mailsOf(e.eventId)).toHaveLength(1);
    const rows: Array<{ status: string; claimed_by: string }> = await ctx.db('delivery_ledger').whereIn('event_id', events.map((e) => e.eventId));
    expect(rows.map((r) => r.status)).toEqual(events.map(() => 'sent'));
    // Both took part, and the one that finished first waited for the other's rows before returning.
    expect(first.stats.sent + second.stats.sent).toBe(12);
    expect(first.stats.claimWaits + second.stats.claimWaits).toBeGreaterThan(0);
  });

  it("a row left `sending` by a dead owner is waited for, then taken over and sent once when its lease runs out", async () => {
    const h = handler({ channels: { email: email('smtp-c') } });
    const event = record('PASSWORD_RESET_REQUESTED');
    await apply(h, [event]);
    // An owner that claimed the row and died: its lease runs out in 2 s.
    await ctx.db('delivery_ledger')
      .where({ event_id: event.eventId })
      .update({ status: 'sending', claim_token: randomUUID(), claimed_by: 'dead-host:1', claim_expires_at: ctx.db.raw("now() + interval '2 seconds'") });

    const started = Date.now();
    expect(await h.deliver([event])).toEqual([]);

    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(mailsOf(event.eventId)).toHaveLength(1);
    expect(await ctx.db('delivery_ledger').where({ event_id: event.eventId }).first()).toMatchObject({ status: 'sent', claim_token: null });
    expect(h.stats.claimWaits).toBeGreaterThan(0);
  });

  it('a database error in the middle of a chunk: every send of the chunk settles and is recorded first, and the retried chunk sends nothing twice', async () => {
    ctx.mail.slowDown(600);
    // The fault: another transaction holds the user's SMS rate-limit counter, and this
    // instance's database session gives up waiting for a lock after 300 ms.
    const url = new URL(ctx.databaseUrl);
    url.searchParams.set('options', '-c lock_timeout=300');
    const db = pool(url.toString());
    const h = handler({ db, channels: { email: email('smtp-d'), sms: sms() }, rateLimiter: new RateLimiter({ db, limits: { sms: { max: 10, windowMs: 3_600_000 } } }) });
    const emails = Array.from({ length: 6 }, () => record('PASSWORD_RESET_REQUESTED'));
    const failedPayment = record('PAYMENT_FAILED', { user_id: 'locked-user' });
    const events = [...emails, failedPayment];
    await apply(h, events);
    const smsBefore = twilio.messages.length;
    const blocker = await ctx.db.transaction();
    const windowStart = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    await blocker('rate_limit_counters').insert({ user_id: 'locked-user', channel: 'sms', window_start: windowStart, count: 0 });

    // What the consumer runtime does: a chunk whose delivery throws is retried as it is.
    let calls = 0;
    for (;;) {
      calls++;
      try {
        expect(await h.deliver(events)).toEqual([]);
        break;
      } catch (error) {
        expect((error as { code?: string }).code).toBe('55P03');
        if (calls > 1) throw error;
        // By the time the chunk fails, every other send of it has settled and been recorded:
        // nothing is left in flight for the retried chunk to race.
        expect(emails.map((e) => mailsOf(e.eventId).length)).toEqual(emails.map(() => 1));
        const rows: Array<{ status: string }> = await ctx.db('delivery_ledger').whereIn('event_id', emails.map((e) => e.eventId));
        expect(rows.map((r) => r.status)).toEqual(emails.map(() => 'sent'));
        await blocker.rollback();
      }
    }

    expect(calls).toBe(2);
    for (const e of emails) expect(mailsOf(e.eventId)).toHaveLength(1);
    expect(mailsOf(failedPayment.eventId)).toHaveLength(1);
    expect(twilio.messages.length - smsBefore).toBe(1);
    const open = await ctx.db('delivery_ledger').whereIn('event_id', events.map((e) => e.eventId)).whereIn('status', ['pending', 'sending']);
    expect(open).toEqual([]);
  });

  it('an SMS that fails twice and then goes out takes the rate limit once; a mandatory SMS over the limit still goes out, marked exempt', async () => {
    const limiter = new RateLimiter({ db: ctx.db, limits: { sms: { max: 1, windowMs: 3_600_000 } } });
    const h = handler({ channels: { sms: sms() }, rateLimiter: limiter });
    const user = `limited-${randomUUID().slice(0, 8)}`;
    const retried = record('PAYMENT_FAILED', { user_id: user });
    await apply(h, [retried]);
    const smsBefore = twilio.messages.length;

    twilio.fail({ kind: 'unavailable' });
    for (let attempt = 0; attempt < 2; attempt++) {
      const failures = await h.deliver([retried]);
      expect(failures).toHaveLength(1);
    }
    twilio.fail(undefined);
    expect(await h.deliver([retried])).toEqual([]);
    expect(twilio.messages.length - smsBefore).toBe(1);

    const counters = await ctx.db('rate_limit_counters').where({ user_id: user, channel: 'sms' });
    expect(counters.map((c: { count: number }) => c.count)).toEqual([1]);
    const smsRow = (eventId: string) => ctx.db('delivery_ledger').where({ event_id: eventId, channel: 'sms' }).first();
    expect(await smsRow(retried.eventId)).toMatchObject({ status: 'sent', rate_limit: 'counted', attempts: 3 });

    // The limit (1 an hour) is met: a payment alert is mandatory, so it is sent anyway and says so.
    const next = record('PAYMENT_FAILED', { user_id: user });
    await apply(h, [next]);
    expect(await h.deliver([next])).toEqual([]);
    expect(await smsRow(next.eventId)).toMatchObject({ status: 'sent', rate_limit: 'exempt' });
    expect(twilio.messages.length - smsBefore).toBe(2);
    expect((await ctx.db('rate_limit_counters').where({ user_id: user, channel: 'sms' }).first()).count).toBe(1);
  });

  it('the quiet-hours dispatcher sends a due message once when two race, with no transaction open during the send', async () => {
    const h = handler({ channels: { email: email('smtp-e') } });
    const event = record('PASSWORD_RESET_REQUESTED');
    await apply(h, [event]);
    const address = String((event.payload as { recipient: { email: string } }).recipient.email).toLowerCase();
    const message = { channel: 'email', eventId: event.eventId, userId: 'u', recipient: address, title: 'Held back', text: 'Held back until morning', idempotencyKey: `${event.eventId}.email@tidings.test` };
    await ctx.db('delivery_ledger').where({ event_id: event.eventId }).update({ status: 'deferred', reason: 'quiet_hours', not_before: new Date(Date.now() - 1_000), message: JSON.stringify(message) });

    ctx.mail.slowDown(1_500);
    const dispatchers = ['one', 'two'].map((name) => new DeferredDispatcher({ db: pool(), channels: { email: email(`smtp-${name}`) }, instanceId: name }));
    const database = new URL(ctx.databaseUrl).pathname.slice(1);
    const seen = new Set<string>();
    let watching = true;
    // Meanwhile, every 50 ms: is any session of this database idle inside a transaction?
    const watcher = (async () => {
      while (watching) {
        const { rows } = await ctx.db.raw<{ rows: Array<{ state: string }> }>(`SELECT state FROM pg_stat_activity WHERE datname = ? AND state LIKE 'idle in transaction%'`, [database]);
        for (const r of rows) seen.add(r.state);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const sent = await Promise.all(dispatchers.map((d) => d.dispatchDue()));
    watching = false;
    await watcher;

    expect(sent.sort()).toEqual([0, 1]);
    expect(mailsOf(event.eventId)).toHaveLength(1);
    expect(seen).toEqual(new Set());
    expect(await ctx.db('delivery_ledger').where({ event_id: event.eventId }).first()).toMatchObject({ status: 'sent', reason: 'quiet_hours', claim_token: null });
  });

  it('a database outage after a deferred message went out does not undo its `sent`: it is recorded once the database is back and never sent again', async () => {
    const h = handler({ channels: { email: email('smtp-f') } });
    const events = [record('PASSWORD_RESET_REQUESTED'), record('PASSWORD_RESET_REQUESTED')];
    await apply(h, events);
    for (const event of events) {
      const address = String((event.payload as { recipient: { email: string } }).recipient.email).toLowerCase();
      const message = { channel: 'email', eventId: event.eventId, userId: 'u', recipient: address, title: 'Held back', text: 'Held back until morning', idempotencyKey: `${event.eventId}.email@tidings.test` };
      await ctx.db('delivery_ledger').where({ event_id: event.eventId }).update({ status: 'deferred', reason: 'quiet_hours', not_before: new Date(Date.now() - 1_000), message: JSON.stringify(message) });
    }
    const db = new URL(ctx.databaseUrl);
    const proxy = await TcpProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
    closers.push(() => proxy.close());
    const dispatcher = new DeferredDispatcher({ db: pool(proxy.via(ctx.databaseUrl)), channels: { email: email('smtp-g') } });
    // The database goes away the moment the first message is accepted.
    ctx.mail.once('mail', () => proxy.cut());

    const pass = dispatcher.dispatchDue();
    await waitFor('the dispatcher to retry recording the first send', () => dispatcher.stats.ledgerRetries > 0);
    proxy.restore();

    expect(await pass).toBe(2);
    expect(await dispatcher.dispatchDue()).toBe(0);
    for (const e of events) expect(mailsOf(e.eventId)).toHaveLength(1);
    const rows: Array<{ status: string }> = await ctx.db('delivery_ledger').whereIn('event_id', events.map((e) => e.eventId));
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent']);
  });

  it('refuses bad options with a message naming the option', () => {
    const db = ctx.db;
    expect(() => new NotificationHandler({ db, channels: {}, sendConcurrency: 0 })).toThrow(ConfigError);
    expect(() => new NotificationHandler({ db, channels: {}, sendConcurrency: 300 })).toThrow(/sendConcurrency/);
    expect(() => new NotificationHandler({ db, channels: {}, leaseMs: 10 })).toThrow(/leaseMs/);
    expect(() => new DeferredDispatcher({ db, channels: {}, batchSize: -1 })).toThrow(/batchSize/);
    expect(() => new RateLimiter({ db, limits: { sms: { max: 0, windowMs: 3_600_000 } } })).toThrow(/limits\.sms\.max/);
  });
});
