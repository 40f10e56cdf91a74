import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { startApiServer, type ApiServer } from '../../src/api/server';
import { sampleEvent } from '../../src/events/samples';
import { PreferenceStore } from '../../src/notifications/preferences';
import type { Publisher } from '../../src/producer/publisher';
import { TEST_USER_TOKEN_SECRET, asPathUser, jsonClient, type Json } from '../helpers/http';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/** Preferences and quiet hours over the HTTP API, and their effect on the running notification service. */
describe('notification preferences and quiet hours over the HTTP API', () => {
  let ctx: TestContext;
  let api: ApiServer;
  let publisher: Publisher;
  let consumer: NotificationConsumer;

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    // Channels from the environment: email goes to this file's SMTP catcher.
    [api, consumer] = await Promise.all([
      startApiServer({ db: ctx.db, port: 0, userTokenSecret: TEST_USER_TOKEN_SECRET }),
      startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification') }),
      publisher.connect(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([consumer?.stop(), publisher?.disconnect(), api?.close()]);
    await ctx?.dispose();
  });

  // Each call carries the token of the user its path names, as that user's app would.
  const call = jsonClient(() => api.url, asPathUser());
  const preferencesOf = async (user: string): Promise<Json> => (await call('GET', `/users/${user}/preferences`)).body;

  it('starts from the defaults and lists the categories and channels a UI can offer', async () => {
    expect(await call('GET', '/users/newcomer/preferences')).toEqual({
      status: 200,
      body: { userId: 'newcomer', preferences: [], quietHours: null, categories: ['billing', 'marketing', 'security'], channels: ['email', 'sms', 'push', 'in_app'] },
    });
  });

  it('sets, overwrites, reads back and deletes choices and quiet hours, and the notification service reads the same', async () => {
    const user = 'round-trip';
    expect((await call('PUT', `/users/${user}/preferences/marketing/*`, { optedIn: false })).status).toBe(200);
    expect((await call('PUT', `/users/${user}/preferences/billing/sms`, { optedIn: true })).status).toBe(200);
    expect((await call('PUT', `/users/${user}/preferences/billing/in_app`, { optedIn: true })).status).toBe(200);
    expect((await call('PUT', `/users/${user}/preferences/billing/in_app`, { optedIn: false })).body).toMatchObject({ preference: { category: 'billing', channel: 'in_app', optedIn: false } });
    // The time zone is stored under its canonical IANA name.
    expect(await call('PUT', `/users/${user}/quiet-hours`, { start: '22:00', end: '07:30', timeZone: 'europe/paris' })).toEqual({
      status: 200,
      body: { userId: user, quietHours: { start: '22:00', end: '07:30', timeZone: 'Europe/Paris' } },
    });

    expect(await preferencesOf(user)).toMatchObject({
      preferences: [
        { category: 'billing', channel: 'in_app', optedIn: false },
        { category: 'billing', channel: 'sms', optedIn: true },
        { category: 'marketing', channel: '*', optedIn: false },
      ],
      quietHours: { start: '22:00', end: '07:30', timeZone: 'Europe/Paris' },
    });
    const seen = (await new PreferenceStore(ctx.db).load([user])).get(user);
    expect(Object.fromEntries(seen?.choices ?? [])).toEqual({ 'billing:in_app': false, 'billing:sms': true, 'marketing:*': false });
    expect(seen?.quietHours).toEqual({ startMinute: 22 * 60, endMinute: 7 * 60 + 30, timeZone: 'Europe/Paris' });

    expect((await call('DELETE', `/users/${user}/preferences/marketing/*`)).body).toEqual({ userId: user, category: 'marketing', channel: '*', removed: true });
    expect((await call('DELETE', `/users/${user}/preferences/marketing/*`)).body).toMatchObject({ removed: false });
    expect((await call('DELETE', `/users/${user}/quiet-hours`)).body).toEqual({ userId: user, removed: true });
    expect((await call('DELETE', `/users/${user}/quiet-hours`)).body).toEqual({ userId: user, removed: false });
    expect(await preferencesOf(user)).toMatchObject({
      preferences: [
        { category: 'billing', channel: 'in_app', optedIn: false },
        { category: 'billing', channel: 'sms', optedIn: true },
      ],
      quietHours: null,
    });
  });

  it('keeps an opt-out of a category with mandatory notifications and says which ones it cannot stop', async () => {
    const security = await call('PUT', '/users/careful/preferences/security/email', { optedIn: false });
    expect(security.status).toBe(200);
    expect(security.body.mandatoryEvents).toEqual(expect.arrayContaining(['PASSWORD_RESET_REQUESTED', 'LOGIN_ALERT', 'ACCOUNT_LOCKED']));
    expect(security.body.note).toContain('PASSWORD_RESET_REQUESTED');

    // Billing mixes both kinds: receipts and invoices are mandatory, subscription news is not.
    const billing = (await call('PUT', '/users/careful/preferences/billing/email', { optedIn: false })).body;
    expect(billing.mandatoryEvents).toEqual(expect.arrayContaining(['PAYMENT_SUCCEEDED', 'INVOICE_GENERATED']));
    expect(billing.mandatoryEvents).not.toContain('SUBSCRIPTION_RENEWED');
    // SMS receipts are opt-in, so opting out does stop them; a failed payment's SMS is mandatory.
    const sms = (await call('PUT', '/users/careful/preferences/billing/sms', { optedIn: false })).body;
    expect(sms.mandatoryEvents).toContain('PAYMENT_FAILED');
    expect(sms.mandatoryEvents).not.toContain('PAYMENT_SUCCEEDED');

    expect((await call('PUT', '/users/careful/preferences/marketing/email', { optedIn: false })).body).toEqual({
      userId: 'careful',
      preference: { category: 'marketing', channel: 'email', optedIn: false },
      mandatoryEvents: [],
    });
    expect((await call('PUT', '/users/careful/preferences/security/email', { optedIn: true })).body).not.toHaveProperty('note');
  });

  it('answers invalid input with 400 naming the field, and changes nothing', async () => {
    const user = 'sloppy';
    await call('PUT', `/users/${user}/preferences/marketing/email`, { optedIn: false });
    await call('PUT', `/users/${user}/quiet-hours`, { start: '22:00', end: '07:00', timeZone: 'UTC' });
    const before = await preferencesOf(user);

    const quiet = { start: '22:00', end: '07:00', timeZone: 'UTC' };
    const cases: Array<[() => Promise<{ status: number; body: Json }>, string]> = [
      [() => call('PUT', `/users/${user}/preferences/newsletters/email`, { optedIn: true }), 'category'],
      // In the Category type but routed by nothing: a choice there would never be read.
      [() => call('PUT', `/users/${user}/preferences/account/email`, { optedIn: true }), 'category'],
      [() => call('PUT', `/users/${user}/preferences/marketing/fax`, { optedIn: true }), 'channel'],
      [() => call('DELETE', `/users/${user}/preferences/marketing/fax`), 'channel'],
      [() => call('PUT', `/users/${user}/preferences/marketing/email`, { optedIn: 'yes' }), 'optedIn'],
      [() => call('PUT', `/users/${user}/preferences/marketing/email`, {}), 'optedIn'],
      [() => call('PUT', `/users/${user}/preferences/marketing/email`, { optedIn: true, channel: 'sms' }), 'body'],
      [() => call('PUT', `/users/${user}/preferences/marketing/email`, '{"optedIn": tru'), 'body'],
      [() => call('PUT', `/users/${user}/quiet-hours`, { ...quiet, start: '24:00' }), 'start'],
      [() => call('PUT', `/users/${user}/quiet-hours`, { ...quiet, end: '7:00' }), 'end'],
      [() => call('PUT', `/users/${user}/quiet-hours`, { ...quiet, end: '22:00' }), 'end'],
      [() => call('PUT', `/users/${user}/quiet-hours`, { ...quiet, timeZone: 'Mars/Olympus_Mons' }), 'timeZone'],
      [() => call('PUT', `/users/${user}/quiet-hours`, { start: '22:00', end: '07:00' }), 'timeZone'],
    ];
    for (const [request, field] of cases) {
      const { status, body } = await request();
      expect({ status, field: body.field, error: body.error }).toEqual({ status: 400, field, error: 'invalid_request' });
      expect(String(body.message)).toContain(`${field}:`);
    }
    expect((await call('PUT', `/users/${user}/preferences/newsletters/email`, { optedIn: true })).body.message).toBe(
      'category: unknown category "newsletters" (one of billing, marketing, security)',
    );
    expect(await preferencesOf(user)).toEqual(before);
  });

  it("a user's token changes only that user's preferences and quiet hours: another user's gets 403, none 401, and nothing changes", async () => {
    const victim = 'victim';
    await call('PUT', `/users/${victim}/preferences/marketing/email`, { optedIn: true });
    const before = await preferencesOf(victim);
    const asIntruder = jsonClient(() => api.url, (path) => asPathUser()(path.replace(victim, 'intruder')));
    const anonymous = jsonClient(() => api.url);
    for (const client of [asIntruder, anonymous]) {
      const expected = client === asIntruder ? 403 : 401;
      expect((await client('GET', `/users/${victim}/preferences`)).status).toBe(expected);
      expect((await client('PUT', `/users/${victim}/preferences/marketing/email`, { optedIn: false })).status).toBe(expected);
      expect((await client('DELETE', `/users/${victim}/preferences/marketing/email`)).status).toBe(expected);
      expect((await client('PUT', `/users/${victim}/quiet-hours`, { start: '00:00', end: '23:59', timeZone: 'UTC' })).status).toBe(expected);
    }
    expect(await preferencesOf(victim)).toEqual(before);
  });

  const ledger = (eventId: string) => ctx.db('delivery_ledger').where({ event_id: eventId }).orderBy('channel');
  const emailed = (eventId: string) => ctx.mail.messages.some((m) => m.headers['x-tidings-event-id'] === eventId);
  const decided = (eventId: string, rows: number) => async (): Promise<boolean> => {
    const found: Array<{ status: string }> = await ledger(eventId);
    return found.length === rows && found.every((r) => r.status !== 'pending');
  };

  it('an email opt-out made through the API silences that category in the running service; mandatory mail still goes out; deleting it restores the default', async () => {
    const user = 'api-opt-out';
    const billing = await call('PUT', `/users/${user}/preferences/billing/email`, { optedIn: false });
    expect(billing.body.mandatoryEvents).toContain('INVOICE_GENERATED');
    await call('PUT', `/users/${user}/preferences/security/email`, { optedIn: false });

    const renewal = sampleEvent('SUBSCRIPTION_RENEWED', { user_id: user });
    const invoice = sampleEvent('INVOICE_GENERATED', { user_id: user });
    const reset = sampleEvent('PASSWORD_RESET_REQUESTED', { user_id: user });
    await publisher.publish('SUBSCRIPTION_RENEWED', renewal);
    await publisher.publish('INVOICE_GENERATED', invoice);
    await publisher.publish('PASSWORD_RESET_REQUESTED', reset);

    await ctx.mail.waitFor(() => emailed(invoice.event_id) && emailed(reset.event_id));
    await waitFor('the renewal to be decided', decided(renewal.event_id, 2));
    expect(emailed(renewal.event_id)).toBe(false);
    expect(await ledger(renewal.event_id)).toEqual([
      expect.objectContaining({ channel: 'email', status: 'suppressed', reason: 'opted_out' }),
      // Only email was opted out of: the in-app copy is still delivered.
      expect.objectContaining({ channel: 'in_app', status: 'sent' }),
    ]);
    await waitFor('the invoice and reset emails to be recorded as sent', async () => {
      const rows: Array<{ status: string }> = [...(await ledger(invoice.event_id)), ...(await ledger(reset.event_id))];
      return rows.length === 2 && rows.every((r) => r.status === 'sent');
    });

    expect((await call('DELETE', `/users/${user}/preferences/billing/email`)).body).toMatchObject({ removed: true });
    const next = sampleEvent('SUBSCRIPTION_RENEWED', { user_id: user });
    await publisher.publish('SUBSCRIPTION_RENEWED', next);
    await ctx.mail.waitFor(() => emailed(next.event_id));
    await waitFor('the next renewal to be recorded as sent', async () => (await ledger(next.event_id)).some((r: { channel: string; status: string }) => r.channel === 'email' && r.status === 'sent'));
  });
});
