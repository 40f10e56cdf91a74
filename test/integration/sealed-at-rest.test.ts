import { randomBytes } from 'node:crypto';
import { startAuditConsumer, type AuditConsumer } from '../../consumers/audit';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { startScheduler, type Scheduler } from '../../consumers/scheduler';
import { ApiKeys } from '../../src/api/auth/api-keys';
import { startApiServer, type ApiServer } from '../../src/api/server';
import { readAuditLog, verifyAuditChain } from '../../src/audit/audit-log';
import { readEnv } from '../../src/config/env';
import { LocalKeyManagement } from '../../src/crypto/key-management';
import { ERASED } from '../../src/crypto/sealed-columns';
import type { DataKeyStore } from '../../src/crypto/data-key-store';
import { LocalFcm } from '../../src/dev/local-fcm';
import { LocalTwilio } from '../../src/dev/local-twilio';
import type { EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { InAppChannel } from '../../src/in-app/in-app-channel';
import { PreferenceStore } from '../../src/notifications/preferences';
import { DeviceTokens } from '../../src/notifications/providers/device-tokens';
import { createProvidersFromEnv, type ChannelProviders } from '../../src/notifications/providers/providers-from-env';
import { createLogger } from '../../src/observability/logger';
import { Platform } from '../../src/platform';
import type { Publisher } from '../../src/producer/publisher';
import { ManualClock } from '../../src/scheduler/clock';
import { TEST_USER_TOKEN_SECRET, asPathUser, jsonClient, type Json } from '../helpers/http';
import { dumpDatabaseData } from '../helpers/pg-dump';
import { localProviderEnv } from '../helpers/local-provider-env';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** What a person's events carry that is personal: none of it may be in the database in plaintext. */
interface Person {
  id: string;
  email: string;
  name: string;
  phone: string;
  ip: string;
  location: string;
  resetUrl: string;
  token: string;
  /** End of their quiet hours (UTC), which hold back their refund SMS. */
  quietUntil: string;
}

const person = (id: string, name: string, n: number, city: string, quietUntil: string): Person => ({
  id,
  email: `${id}.sealed@example.com`,
  name,
  phone: `+1555700000${n}`,
  ip: `203.0.113.${70 + n}`,
  location: city,
  resetUrl: `https://account.example.com/reset?token=${id}-one-time-secret-${n}f3`,
  token: `tok-${id}-sealed-000${n}`,
  quietUntil,
});

const alice = person('alice', 'Alice Sealwright', 1, 'Porto, Portugal', '09:00');
const bob = person('bob', 'Bob Keepwell', 2, 'Ghent, Belgium', '07:00');
const carol = person('carol', 'Carol Deadtoken', 3, 'Utrecht, Netherlands', '07:00');

/**
 * Personal data at rest: with users' data keys configured, every table holds the personal
 * values of notifications, devices, audit entries, legal copies and scheduled emails sealed
 * with the user's key; deliveries work as before; destroying a user's key leaves their rows
 * readable only as erased, without breaking the audit chain or any worker.
 */
describe('personal data sealed at rest in PostgreSQL', () => {
  let ctx: TestContext;
  let platform: Platform;
  let keys: DataKeyStore;
  let fcm: LocalFcm;
  let twilio: LocalTwilio;
  let providers: ChannelProviders;
  let notifications: NotificationConsumer;
  let audit: AuditConsumer;
  let scheduler: Scheduler;
  let api: ApiServer;
  let publisher: Publisher;
  let readKey: string;
  const published: string[] = [];
  const events = new Map<string, Partial<Record<EventType, { event_id: string }>>>();
  // Quiet hours are decided on this clock: 03:00 UTC today, inside everyone's quiet hours.
  const today = Math.floor(Date.now() / DAY) * DAY;
  let now = new Date(today + 3 * HOUR);
  const schedulerClock = new ManualClock(Math.floor(Date.now() / HOUR) * HOUR);

  beforeAll(async () => {
    ctx = await createTestContext();
    platform = new Platform({ endpoints: ctx.platform.endpoints, topics: ctx.topics, clientId: `test-${ctx.id}-sealed`, keyManagement: new LocalKeyManagement(randomBytes(32)) });
    keys = platform.dataKeys as DataKeyStore;
    [fcm, twilio] = await Promise.all([LocalFcm.start(), LocalTwilio.start()]);
    providers = createProvidersFromEnv({
      env: readEnv(localProviderEnv(ctx.mail.url, fcm, twilio)),
      deviceTokens: new DeviceTokens(platform.db, keys),
      logger: createLogger('test', 'silent'),
    });
    readKey = (await new ApiKeys(ctx.db).create({ name: 'sealed-read', scope: 'read', actor: 'test' })).key;
    publisher = platform.createPublisher();
    [api, notifications, audit, scheduler] = await Promise.all([
      startApiServer({ db: platform.db, port: 0, userTokenSecret: TEST_USER_TOKEN_SECRET, platform }),
      startNotificationConsumer(platform, {
        groupId: ctx.groupId('notification'),
        channels: { ...providers.channels, in_app: new InAppChannel({ db: platform.db, dataKeys: keys }) },
        clock: () => now,
        deferred: { pollIntervalMs: 100 },
      }),
      startAuditConsumer(platform, { groupId: ctx.groupId('audit') }),
      startScheduler(platform, { groupId: ctx.groupId('scheduler'), clock: schedulerClock, pollIntervalMs: 50, sessionTimeoutMs: 6_000 }),
      publisher.connect(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([notifications?.stop(), audit?.stop(), scheduler?.stop()]);
    await publisher?.disconnect();
    await api?.close();
    await providers?.close();
    await Promise.all([fcm?.close(), twilio?.close()]);
    await platform?.close();
    await ctx?.dispose();
  });

  const userCall = jsonClient(() => api.url, asPathUser());
  const adminCall = jsonClient(() => api.url, () => ({ authorization: `Bearer ${readKey}` }));

  function eventFor<T extends EventType>(type: T, p: Person, overrides: Partial<EventMap[T]> = {}): EventMap[T] {
    const event = sampleEvent(type, { user_id: p.id, ...overrides });
    event.recipient = { email: p.email, name: p.name, phone: p.phone, locale: 'en-US', time_zone: 'UTC' };
    const withClient = event as { client?: { ip: string; user_agent: string; location: string | null } };
    if (withClient.client) withClient.client = { ...withClient.client, ip: p.ip, location: p.location };
    return event;
  }

  async function publish<T extends EventType>(type: T, p: Person, overrides: Partial<EventMap[T]> = {}): Promise<EventMap[T]> {
    const event = eventFor(type, p, overrides);
    await publisher.publish(type, event);
    published.push(event.event_id);
    events.set(p.id, { ...events.get(p.id), [type]: event });
    return event;
  }

  const eventOf = (p: Person, type: EventType): string => events.get(p.id)?.[type]?.event_id as string;

  /** Waits until no ledger row of these events is still open (deferred ones may wait). */
  async function settled(eventIds: string[], rows: number): Promise<Array<Record<string, string | null>>> {
    return waitFor(`${rows} settled ledger rows`, async () => {
      const found: Array<Record<string, string | null>> = await ctx.db('delivery_ledger').whereIn('event_id', eventIds).orderBy(['event_id', 'channel']);
      return found.length === rows && found.every((r) => r.status !== 'pending' && r.status !== 'sending') ? found : undefined;
    });
  }

  const personalValues = (p: Person): string[] => [p.email, p.name, p.phone, p.ip, p.location, p.resetUrl, p.token];

  it('delivers email, SMS, push and in-app as before, while every table holds the personal values sealed', async () => {
    const preferences = new PreferenceStore(ctx.db);
    for (const p of [alice, bob]) {
      await preferences.set(p.id, 'billing', 'sms', true);
      await preferences.setQuietHours(p.id, { start: '22:00', end: p.quietUntil, timeZone: 'UTC' });
      expect((await userCall('PUT', `/users/${p.id}/devices/${p.token}`, { platform: 'android' })).body).toMatchObject({ device: { token: p.token, live: true } });
      await publish('LOGIN_ALERT', p, { severity: 'HIGH' });
      await publish('PAYMENT_SUCCEEDED', p);
      await publish('PASSWORD_RESET_REQUESTED', p, { reset_url: p.resetUrl });
      await publish('REFUND_PROCESSED', p);
      await publish('SUBSCRIPTION_CREATED', p, { occurred_at: Date.now(), renews_at: schedulerClock.now() + DAY, trial_ends_at: null });
    }

    // Each: login (email, push, sms), payment (email, in-app, sms), reset (email), refund (email, in-app, sms), subscription (email, in-app).
    const ids = (p: Person): string[] => (['LOGIN_ALERT', 'PAYMENT_SUCCEEDED', 'PASSWORD_RESET_REQUESTED', 'REFUND_PROCESSED', 'SUBSCRIPTION_CREATED'] as const).map((t) => eventOf(p, t));
    const rows = await settled([...ids(alice), ...ids(bob)], 24);
    for (const p of [alice, bob]) {
      await ctx.mail.waitFor((all) => all.filter((m) => m.to.includes(p.email)).length === 6);
      const mails = ctx.mail.to(p.email);
      expect(mails.map((m) => m.headers['x-tidings-event-type']).sort()).toEqual(['LOGIN_ALERT', 'PASSWORD_RESET_REQUESTED', 'PAYMENT_SUCCEEDED', 'REFUND_PROCESSED', 'RENEWAL_REMINDER', 'SUBSCRIPTION_CREATED']);
      expect(mails.find((m) => m.headers['x-tidings-event-type'] === 'PASSWORD_RESET_REQUESTED')?.text).toContain(p.resetUrl);
      // The refund SMS waits for the end of quiet hours; the high-priority ones went at once.
      expect(twilio.to(p.phone)).toHaveLength(2);
      expect(fcm.to(p.token)).toHaveLength(1);
      const inbox = await userCall('GET', `/users/${p.id}/notifications`);
      expect(inbox.status).toBe(200);
      const notifications = inbox.body.notifications as Json[];
      expect(notifications.map((n) => n.kind).sort()).toEqual(['PAYMENT_SUCCEEDED', 'REFUND_PROCESSED', 'SUBSCRIPTION_CREATED']);
      for (const n of notifications) expect(String(n.body)).not.toMatch(/^tdk1:|\[erased\]/);
      expect((await userCall('GET', `/users/${p.id}/devices`)).body).toMatchObject({ devices: [{ token: p.token, live: true }] });
      const history = (await adminCall('GET', `/admin/users/${p.id}/deliveries`)).body.deliveries as Json[];
      // Five event emails and the renewal reminder the scheduler sent.
      expect(history.filter((d) => d.channel === 'email').map((d) => d.recipient)).toEqual(Array(6).fill(p.email));
      expect(history.filter((d) => d.channel === 'push').map((d) => d.recipient)).toEqual([p.token]);
      const logged = await waitFor('the audit log to have the user’s events', async () => {
        const entries = await readAuditLog(ctx.db, { userId: p.id }, keys);
        return entries.length === 5 ? entries : undefined;
      });
      const login = logged.find((e) => e.eventType === 'LOGIN_ALERT')?.payload as { recipient: Json; client: Json };
      expect(login.recipient).toMatchObject({ email: p.email, name: p.name, phone: p.phone });
      expect(login.client).toMatchObject({ ip: p.ip, location: p.location });
    }

    // The rows themselves: addresses as digests with a sealed copy, texts and tokens sealed.
    for (const row of rows.filter((r) => r.channel !== 'in_app')) {
      expect(row.recipient).toMatch(/^tdh1:/);
      expect(row.recipient_sealed).toMatch(/^tdk1:/);
    }
    const deferred = rows.filter((r) => r.status === 'deferred');
    expect(deferred.map((r) => r.channel)).toEqual(['sms', 'sms']);
    for (const row of deferred) expect(row.message).toMatch(/^tdk1:/);
    for (const row of await ctx.db('in_app_notifications')) expect([row.title, row.body]).toEqual([expect.stringMatching(/^tdk1:/), expect.stringMatching(/^tdk1:/)]);
    for (const row of await ctx.db('device_tokens')) expect(row.token).toMatch(/^tdk1:/);
    for (const row of await ctx.db('audit_log')) expect(row.payload.recipient.email).toMatch(/^tdk1:/);
    for (const row of await ctx.db('legal_records')) expect(row.document.recipient.email).toMatch(/^tdk1:/);
    for (const table of ['renewal_reminders', 'daily_digests']) {
      const stored = await ctx.db(table).whereIn('user_id', [alice.id, bob.id]);
      expect(stored).toHaveLength(2);
      for (const row of stored) expect([row.recipient_email, row.recipient_name]).toEqual([expect.stringMatching(/^tdk1:/), expect.stringMatching(/^tdk1:/)]);
    }

    // What a backup would hold. It is of the right database: the users' rows are there, sealed.
    const dump = (await dumpDatabaseData(ctx.databaseUrl)).toLowerCase();
    expect(dump).toContain(alice.id);
    expect(dump).toContain('tdk1:');
    for (const value of [...personalValues(alice), ...personalValues(bob)]) expect({ value, found: dump.includes(value.toLowerCase()) }).toEqual({ value, found: false });
  });

  it('sends a sealed message held back by quiet hours when they end', async () => {
    now = new Date(today + 7 * HOUR + 60_000);
    await waitFor('bob’s refund SMS', () => twilio.to(bob.phone).length === 3);
    expect(twilio.to(bob.phone)[2]?.body).toMatch(/refund/i);
    // Alice's quiet hours last until 09:00.
    expect(twilio.to(alice.phone)).toHaveLength(2);
  });

  it('texts a severe alert once when its push fails: the fallback meets the planned SMS row by its digest', async () => {
    await new DeviceTokens(platform.db, keys).register(carol.id, carol.token, 'ios');
    fcm.unregister(carol.token);
    const alert = await publish('LOGIN_ALERT', carol, { severity: 'HIGH' });
    const rows = await settled([alert.event_id], 3);
    expect(rows.map((r) => [r.channel, r.status, r.reason])).toEqual([
      ['email', 'sent', null],
      ['push', 'failed', 'unreachable'],
      ['sms', 'sent', null],
    ]);
    expect(twilio.to(carol.phone)).toHaveLength(1);
  });

  describe('after a user’s data key is destroyed', () => {
    beforeAll(async () => {
      expect(await ctx.db.transaction((trx) => keys.destroyForUser(alice.id, trx))).toHaveLength(1);
    });

    it('the audit chain still verifies; the erased user’s entries read as erased, other users’ as before', async () => {
      const chain = await verifyAuditChain(ctx.db);
      expect(chain).toEqual({ ok: true, rows: await ctx.db('audit_log').count({ n: '*' }).first().then((r) => Number(r?.n)) });
      const erased = await readAuditLog(ctx.db, { userId: alice.id }, keys);
      expect(erased).toHaveLength(5);
      for (const entry of erased) expect((entry.payload as { recipient: Json }).recipient).toMatchObject({ email: ERASED, name: ERASED, phone: ERASED });
      const kept = await readAuditLog(ctx.db, { userId: bob.id }, keys);
      expect(kept.map((e) => (e.payload as { recipient: Json }).recipient.email)).toEqual(Array(5).fill(bob.email));
    });

    it('the API answers for the erased user with erased values, and for others as before', async () => {
      const inbox = await userCall('GET', `/users/${alice.id}/notifications`);
      expect(inbox.status).toBe(200);
      expect((inbox.body.notifications as Json[]).map((n) => [n.title, n.body])).toEqual(Array(3).fill([ERASED, ERASED]));
      expect((await userCall('GET', `/users/${bob.id}/notifications`)).body.notifications).toEqual(
        Array(3).fill(expect.objectContaining({ title: expect.not.stringMatching(/^tdk1:|\[erased\]/) })),
      );
      expect((await userCall('GET', `/users/${alice.id}/devices`)).body).toMatchObject({ devices: [{ token: ERASED }] });
      expect((await userCall('GET', `/users/${bob.id}/devices`)).body).toMatchObject({ devices: [{ token: bob.token }] });
      const history = await adminCall('GET', `/admin/users/${alice.id}/deliveries`);
      expect(history.status).toBe(200);
      // Six emails (one the scheduler's), three SMS, one push.
      expect((history.body.deliveries as Json[]).filter((d) => d.channel !== 'in_app').map((d) => d.recipient)).toEqual(Array(10).fill(ERASED));
    });

    it('a held-back message of the erased user is dropped as user_erased; the workers carry on for others', async () => {
      const refund = eventOf(alice, 'REFUND_PROCESSED');
      now = new Date(today + 9 * HOUR + 60_000);
      const row = await waitFor('the erased user’s deferred SMS to be decided', async () => {
        const found = await ctx.db('delivery_ledger').where({ event_id: refund, channel: 'sms' }).first();
        return found?.status === 'suppressed' ? found : undefined;
      });
      expect(row.reason).toBe('user_erased');
      expect(twilio.to(alice.phone)).toHaveLength(2);

      // The scheduler's next day: the erased user's digest is not sent; the other user's is.
      schedulerClock.advance(2 * DAY);
      scheduler.dispatcher.wake();
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(bob.email) && m.headers['x-tidings-event-type'] === 'DAILY_DIGEST'));
      await waitFor('the erased user’s digest to expire', async () => (await ctx.db('daily_digests').where({ user_id: alice.id }).first())?.status === 'expired');
      expect(ctx.mail.to(alice.email).filter((m) => m.headers['x-tidings-event-type'] === 'DAILY_DIGEST')).toEqual([]);

      const next = await publish('PAYMENT_SUCCEEDED', bob);
      await settled([next.event_id], 3);
      await ctx.mail.waitFor((all) => all.some((m) => m.headers['x-tidings-event-id'] === next.event_id));
    });

    it('a second notification group over the same events plans nothing new and sends nothing again', async () => {
      // The erased user's events are skipped by any group now (nobody can read them); the others are planned again.
      const erasedIds = new Set(Object.values(events.get(alice.id) ?? {}).map((e) => e?.event_id));
      const others = published.filter((id) => !erasedIds.has(id));
      // Rows with an address: a user's dead push token is no address any more, and gets a row saying so.
      const rowsOf = async (): Promise<number> => Number((await ctx.db('delivery_ledger').whereIn('event_id', others).whereNot({ recipient: '' }).count({ n: '*' }).first())?.n);
      const before = { rows: await rowsOf(), mail: ctx.mail.messages.length, sms: twilio.messages.length, push: fcm.messages.length };
      const group = ctx.groupId('notification-again');
      const second = await startNotificationConsumer(platform, { groupId: group, channels: { ...providers.channels, in_app: new InAppChannel({ db: platform.db, dataKeys: keys }) }, clock: () => now });
      try {
        await waitFor('the second group to take in every event', async () => Number((await ctx.db('inbox').where({ consumer_group: group }).count({ n: '*' }).first())?.n) === published.length, 60_000);
        // Rows it planned are in the same transaction as its inbox rows: wait until none is open.
        await waitFor('every delivery to be decided', async () => (await ctx.db('delivery_ledger').whereIn('event_id', others).whereIn('status', ['pending', 'sending']).first()) === undefined);
      } finally {
        await second.stop();
      }
      expect({ rows: await rowsOf(), mail: ctx.mail.messages.length, sms: twilio.messages.length, push: fcm.messages.length }).toEqual(before);
    });
  });
});
