import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { startApiServer, type ApiServer } from '../../src/api/server';
import { readEnv } from '../../src/config/env';
import type { EventMap } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { InAppChannel } from '../../src/in-app/in-app-channel';
import { DeviceTokens } from '../../src/notifications/providers/device-tokens';
import { createProvidersFromEnv, type ChannelProviders } from '../../src/notifications/providers/providers-from-env';
import { createLogger } from '../../src/observability/logger';
import type { Publisher } from '../../src/producer/publisher';
import { LocalFcm } from '../../src/dev/local-fcm';
import { LocalTwilio } from '../../src/dev/local-twilio';
import { TEST_USER_TOKEN_SECRET, asPathUser, jsonClient } from '../helpers/http';
import { localProviderEnv } from '../helpers/local-provider-env';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

interface LedgerEntry {
  channel: string;
  recipient: string;
  status: string;
  reason: string | null;
  provider: string | null;
}

/**
 * Push end to end: devices registered through the HTTP API, events through Kafka, the
 * notification group, firebase-admin against a local OAuth + FCM endpoint, and the twilio SDK
 * against a local Twilio API (the push → SMS fallback), all configured from environment
 * variables the way `tidings run notification` is.
 */
describe('push notifications: device registration and the push → SMS fallback', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let fcm: LocalFcm;
  let twilio: LocalTwilio;
  let providers: ChannelProviders;
  let consumer: NotificationConsumer;
  let tokens: DeviceTokens;
  let api: ApiServer;

  beforeAll(async () => {
    ctx = await createTestContext();
    [fcm, twilio] = await Promise.all([LocalFcm.start(), LocalTwilio.start()]);
    tokens = new DeviceTokens(ctx.db);
    providers = createProvidersFromEnv({
      env: readEnv(localProviderEnv(ctx.mail.url, fcm, twilio)),
      deviceTokens: tokens,
      logger: createLogger('test', 'silent'),
    });
    publisher = ctx.platform.createPublisher();
    [api, consumer] = await Promise.all([
      startApiServer({ db: ctx.db, port: 0, userTokenSecret: TEST_USER_TOKEN_SECRET }),
      startNotificationConsumer(ctx.platform, {
        groupId: ctx.groupId('notification'),
        channels: { ...providers.channels, in_app: new InAppChannel({ db: ctx.db }) },
      }),
      publisher.connect(),
    ]);
  });

  afterAll(async () => {
    await consumer?.stop();
    await publisher?.disconnect();
    await api?.close();
    await providers?.close();
    await Promise.all([fcm?.close(), twilio?.close()]);
    await ctx?.dispose();
  });

  function alertFor(user: string, phone: string, severity: EventMap['LOGIN_ALERT']['severity']): EventMap['LOGIN_ALERT'] {
    const event = sampleEvent('LOGIN_ALERT', { user_id: user, severity });
    event.recipient = { ...event.recipient, email: `${user}@example.com`, phone, locale: 'en-US', time_zone: 'UTC' };
    return event;
  }

  async function decided(eventId: string, rows: number): Promise<LedgerEntry[]> {
    return waitFor(`${rows} settled ledger rows for ${eventId}`, async () => {
      const found: LedgerEntry[] = await ctx.db('delivery_ledger').where({ event_id: eventId }).orderBy(['channel', 'recipient']);
      // `sending`: claimed by a deliverer, the send not recorded yet.
      return found.length === rows && found.every((r) => r.status !== 'pending' && r.status !== 'sending') ? found : undefined;
    });
  }

  it('a live token gets the push and no SMS is sent', async () => {
    await tokens.register('pf-live', 'tok-pf-live', 'android');
    const alert = alertFor('pf-live', '+15557650001', 'MEDIUM');
    await publisher.publish('LOGIN_ALERT', alert);

    const rows = await decided(alert.event_id, 2);
    expect(rows).toEqual([
      expect.objectContaining({ channel: 'email', status: 'sent' }),
      expect.objectContaining({ channel: 'push', recipient: 'tok-pf-live', status: 'sent', provider: 'fcm' }),
    ]);
    expect(fcm.to('tok-pf-live')).toEqual([expect.objectContaining({ notification: expect.objectContaining({ title: expect.any(String), body: expect.any(String) }) })]);
    expect(twilio.to('+15557650001')).toEqual([]);
  });

  it('an unregistered token is marked dead and the alert goes out by SMS; the next alert goes straight to SMS', async () => {
    await tokens.register('pf-gone', 'tok-pf-gone', 'ios');
    fcm.unregister('tok-pf-gone');
    const first = alertFor('pf-gone', '+15557650002', 'MEDIUM');
    await publisher.publish('LOGIN_ALERT', first);

    const rows = await decided(first.event_id, 3);
    expect(rows).toEqual([
      expect.objectContaining({ channel: 'email', status: 'sent' }),
      expect.objectContaining({ channel: 'push', recipient: 'tok-pf-gone', status: 'failed', reason: 'unreachable' }),
      expect.objectContaining({ channel: 'sms', recipient: '+15557650002', status: 'sent', reason: 'fallback_from_push', provider: 'twilio-primary' }),
    ]);
    const [sms] = twilio.to('+15557650002');
    expect(twilio.to('+15557650002')).toHaveLength(1);
    expect(sms?.body).toContain(first.secure_account_url);
    expect(await tokens.isDead('tok-pf-gone')).toBe(true);

    // The user now has no live token: the next alert is planned on SMS from the start and
    // FCM is not asked again.
    const pushesBefore = fcm.sendRequests;
    const second = alertFor('pf-gone', '+15557650002', 'MEDIUM');
    await publisher.publish('LOGIN_ALERT', second);
    expect(await decided(second.event_id, 3)).toEqual([
      expect.objectContaining({ channel: 'email', status: 'sent' }),
      expect.objectContaining({ channel: 'push', recipient: '', status: 'suppressed', reason: 'no_address' }),
      expect.objectContaining({ channel: 'sms', status: 'sent' }),
    ]);
    expect(twilio.to('+15557650002')).toHaveLength(2);
    expect(fcm.sendRequests).toBe(pushesBefore);
  });

  it('a severe alert already routed to SMS is texted once, not twice, when its push fails', async () => {
    await tokens.register('pf-severe', 'tok-pf-severe', 'ios');
    fcm.unregister('tok-pf-severe');
    const alert = alertFor('pf-severe', '+15557650003', 'HIGH');
    await publisher.publish('LOGIN_ALERT', alert);

    const rows = await decided(alert.event_id, 3);
    expect(rows.map((r) => [r.channel, r.status])).toEqual([
      ['email', 'sent'],
      ['push', 'failed'],
      ['sms', 'sent'],
    ]);
    expect(twilio.to('+15557650003')).toHaveLength(1);
  });

  const call = jsonClient(() => api.url, asPathUser());

  it('an app registers its token over HTTP, gets pushes there, sees it go dead, cannot revive it, and unregisters on sign-out', async () => {
    const user = 'pf-app';
    expect(await call('PUT', `/users/${user}/devices/tok-app-1`, { platform: 'android' })).toMatchObject({
      status: 200,
      body: { userId: user, device: { token: 'tok-app-1', platform: 'android', live: true, deadAt: null } },
    });
    expect((await call('PUT', `/users/${user}/devices/tok-app-2`, { platform: 'ios' })).status).toBe(200);

    const locked = sampleEvent('ACCOUNT_LOCKED', { user_id: user });
    await publisher.publish('ACCOUNT_LOCKED', locked);
    await decided(locked.event_id, 3);
    expect(fcm.to('tok-app-1')).toHaveLength(1);
    expect(fcm.to('tok-app-2')).toHaveLength(1);

    // The iOS app was uninstalled: FCM calls its token unregistered on the next push.
    fcm.unregister('tok-app-2');
    const second = sampleEvent('ACCOUNT_LOCKED', { user_id: user });
    await publisher.publish('ACCOUNT_LOCKED', second);
    await decided(second.event_id, 3);
    const listed = await call('GET', `/users/${user}/devices`);
    expect(listed.body.devices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ token: 'tok-app-1', live: true }),
        expect.objectContaining({ token: 'tok-app-2', live: false, deadReason: expect.stringContaining('not registered') }),
      ]),
    );
    // A stale client registering the dead token again is told to fetch a new one.
    expect(await call('PUT', `/users/${user}/devices/tok-app-2`, { platform: 'ios' })).toMatchObject({ status: 409, body: { error: 'token_dead', field: 'token' } });

    // Sign-out: the token is forgotten and the next push has nowhere to go.
    expect((await call('DELETE', `/users/${user}/devices/tok-app-1`)).body).toEqual({ userId: user, token: 'tok-app-1', removed: true });
    expect((await call('DELETE', `/users/${user}/devices/tok-app-1`)).body).toMatchObject({ removed: false });
    const third = sampleEvent('ACCOUNT_LOCKED', { user_id: user });
    await publisher.publish('ACCOUNT_LOCKED', third);
    expect(await decided(third.event_id, 2)).toContainEqual(expect.objectContaining({ channel: 'push', status: 'suppressed', reason: 'no_address' }));
    expect(fcm.to('tok-app-1')).toHaveLength(2);
  });

  it('rejects a bad platform or token with a 400 naming the field, and stores nothing', async () => {
    expect(await call('PUT', '/users/pf-bad/devices/tok-x', { platform: 'windows-phone' })).toMatchObject({ status: 400, body: { field: 'platform', message: expect.stringContaining('android, ios, web') } });
    expect(await call('PUT', '/users/pf-bad/devices/tok-x', {})).toMatchObject({ status: 400, body: { field: 'platform' } });
    expect(await call('PUT', `/users/pf-bad/devices/${encodeURIComponent('tok with spaces')}`, { platform: 'ios' })).toMatchObject({ status: 400, body: { field: 'token' } });
    expect((await call('GET', '/users/pf-bad/devices')).body).toEqual({ userId: 'pf-bad', devices: [] });
  });
});
