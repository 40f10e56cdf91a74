import fs from 'node:fs';
import path from 'node:path';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import type { CapturedMail } from '../../src/dev/mail-catcher';
import { DEFAULT_TEMPLATES_DIR } from '../../src/notifications/email/render';
import { formatInstant } from '../../src/notifications/format';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { SmtpProvider } from '../../src/notifications/providers/smtp-provider';
import { TwilioSmsProvider } from '../../src/notifications/providers/twilio-sms';
import { PreferenceStore } from '../../src/notifications/preferences';
import { InAppChannel } from '../../src/in-app/in-app-channel';
import type { EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { LocalTwilio } from '../../src/dev/local-twilio';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/** The notification service end to end: routing, preferences, limits, quiet hours, failover. */
describe('notification service', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let twilio: LocalTwilio;
  let consumer: NotificationConsumer;
  let preferences: PreferenceStore;
  let clock = new Date();
  const closedPort = 'smtp://127.0.0.1:1';

  beforeAll(async () => {
    ctx = await createTestContext();
    twilio = await LocalTwilio.start();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    preferences = new PreferenceStore(ctx.db);
    const from = 'Tidings <no-reply@tidings.test>';
    consumer = await startNotificationConsumer(ctx.platform, {
      groupId: ctx.groupId('notification'),
      rateLimits: { sms: { max: 3, windowMs: 3_600_000 } },
      clock: () => clock,
      channels: {
        // The primary relay is down (nothing listens on port 1): the backup delivers.
        email: new FailoverProvider({
          channel: 'email',
          providers: [new SmtpProvider({ name: 'smtp-primary', url: closedPort, from }), new SmtpProvider({ name: 'smtp-backup', url: ctx.mail.url, from })],
        }),
        sms: new FailoverProvider({
          channel: 'sms',
          providers: [new TwilioSmsProvider({ name: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url })],
        }),
        in_app: new InAppChannel({ db: ctx.platform.db }),
      },
    });
  });

  afterAll(async () => {
    await consumer?.stop();
    await publisher?.disconnect();
    await twilio?.close();
    await ctx?.dispose();
  });

  function eventFor<T extends EventType>(type: T, user: string, overrides: Partial<EventMap[T]> = {}): EventMap[T] {
    const event = sampleEvent(type, { user_id: user, ...overrides });
    event.recipient = { ...event.recipient, email: `${user}@example.com`, phone: '+15557654321', locale: 'en-US', time_zone: 'UTC' };
    return event;
  }

  const ledger = (eventId: string) => ctx.db('delivery_ledger').where({ event_id: eventId }).orderBy('channel');

  it('an opted-out user gets no marketing email but still gets the password reset', async () => {
    await preferences.set('opted-out', 'marketing', '*', false);
    const welcome = eventFor('USER_REGISTERED', 'opted-out');
    const reset = eventFor('PASSWORD_RESET_REQUESTED', 'opted-out');
    await publisher.publish('USER_REGISTERED', welcome);
    await publisher.publish('PASSWORD_RESET_REQUESTED', reset);

    await ctx.mail.waitFor((all) => all.some((m) => m.headers['x-tidings-event-id'] === reset.event_id));
    await waitFor('the welcome to be decided', async () => (await ledger(welcome.event_id)).length === 2);
    expect(ctx.mail.messages.filter((m) => m.headers['x-tidings-event-id'] === welcome.event_id)).toHaveLength(0);
    expect(await ledger(welcome.event_id)).toEqual([
      expect.objectContaining({ channel: 'email', status: 'suppressed', reason: 'opted_out' }),
      expect.objectContaining({ channel: 'in_app', status: 'suppressed', reason: 'opted_out' }),
    ]);
  });

  it('falls over to the backup SMTP relay and records both attempts with their latency', async () => {
    const reset = eventFor('PASSWORD_RESET_REQUESTED', 'failover-user');
    await publisher.publish('PASSWORD_RESET_REQUESTED', reset);
    await ctx.mail.waitFor((all) => all.some((m) => m.headers['x-tidings-event-id'] === reset.event_id));
    // The ledger records the send just after the relay accepted it.
    const rows: Array<{ id: string; status: string; provider: string }> = await waitFor('the ledger to record the send', async () => {
      const found: Array<{ id: string; status: string; provider: string }> = await ledger(reset.event_id);
      return found[0]?.status === 'sent' ? found : undefined;
    });
    const row = rows[0];
    expect(row).toMatchObject({ status: 'sent', provider: 'smtp-backup' });
    const attempts = await ctx.db('delivery_attempts').where({ ledger_id: row?.id }).orderBy('id');
    expect(attempts).toEqual([
      expect.objectContaining({ provider: 'smtp-primary', status: 'failed', error: expect.stringMatching(/ECONNREFUSED|connect/i) }),
      expect.objectContaining({ provider: 'smtp-backup', status: 'sent', error: null }),
    ]);
    expect(attempts.every((a: { latency_ms: number }) => a.latency_ms >= 0)).toBe(true);
  });

  it('sends SMS only to users who opted in; a mandatory payment SMS over the hourly limit still goes out, marked exempt', async () => {
    await preferences.set('sms-fan', 'billing', 'sms', true);
    const payments = Array.from({ length: 4 }, () => eventFor('PAYMENT_SUCCEEDED', 'sms-fan'));
    for (const p of payments) await publisher.publish('PAYMENT_SUCCEEDED', p);
    const silent = eventFor('PAYMENT_SUCCEEDED', 'no-sms-user');
    await publisher.publish('PAYMENT_SUCCEEDED', silent);

    await waitFor('all payment notifications decided', async () => {
      // Each payment has an email, an in-app and an SMS row; none may still be open.
      const rows: Array<{ status: string }> = await ctx.db('delivery_ledger').whereIn('event_id', [...payments, silent].map((p) => p.event_id));
      return rows.length === 15 && rows.every((r) => r.status !== 'pending' && r.status !== 'sending');
    });
    // A payment confirmation is mandatory: the limit (3 an hour here) does not drop the 4th.
    expect(twilio.messages).toHaveLength(4);
    expect(twilio.messages[0]?.body).toContain('payment of');
    const sms: Array<{ status: string; rate_limit: string | null }> = await ctx.db('delivery_ledger').whereIn('event_id', payments.map((p) => p.event_id)).andWhere({ channel: 'sms' });
    expect(sms.filter((r) => r.status === 'sent')).toHaveLength(4);
    expect(sms.filter((r) => r.rate_limit === 'counted')).toHaveLength(3);
    expect(sms.filter((r) => r.rate_limit === 'exempt')).toHaveLength(1);
    expect(await ledger(silent.event_id)).toContainEqual(expect.objectContaining({ channel: 'sms', status: 'suppressed', reason: 'not_opted_in' }));
    // In-app copies are readable by the user.
    expect(await ctx.db('in_app_notifications').where({ user_id: 'sms-fan' })).toHaveLength(4);
  });

  it('holds a non-urgent SMS during quiet hours and sends it when they are over; urgent ones go at once', async () => {
    await preferences.set('night-owl', 'billing', 'sms', true);
    clock = new Date('2026-11-25T23:30:00Z');
    await preferences.setQuietHours('night-owl', { start: '22:00', end: '07:00', timeZone: 'UTC' });
    const refund = eventFor('REFUND_PROCESSED', 'night-owl');
    const payment = eventFor('PAYMENT_SUCCEEDED', 'night-owl');
    await publisher.publish('REFUND_PROCESSED', refund);
    await publisher.publish('PAYMENT_SUCCEEDED', payment);

    await waitFor('the urgent SMS', () => twilio.to('+15557654321').some((m) => m.body.includes(payment.payment_id)));
    await waitFor('the refund SMS to be deferred', async () => (await ledger(refund.event_id)).some((r: { status: string }) => r.status === 'deferred'));
    expect(await ledger(refund.event_id)).toContainEqual(
      expect.objectContaining({ channel: 'sms', status: 'deferred', reason: 'quiet_hours', not_before: new Date('2026-11-26T07:00:00Z') }),
    );
    expect(twilio.to('+15557654321').some((m) => m.body.includes(refund.payment_id))).toBe(false);

    clock = new Date('2026-11-26T07:01:00Z');
    expect(await consumer.deferred.dispatchDue()).toBe(1);
    expect(twilio.to('+15557654321').filter((m) => m.body.includes(refund.payment_id))).toHaveLength(1);
    expect(await ledger(refund.event_id)).toContainEqual(expect.objectContaining({ channel: 'sms', status: 'sent' }));
  });

  it('a French-speaking user gets a French receipt, amounts and dates in French, and the ledger records the French template version', async () => {
    // The broker refuses record timestamps far from now, so the payment happened just now.
    const paidAt = Date.now();
    const payment = eventFor('PAYMENT_SUCCEEDED', 'francophone', { amount: { amount_minor: 1250, currency: 'EUR' }, order_id: 'ord_fr_1', occurred_at: paidAt });
    payment.recipient = { ...payment.recipient, name: 'Hedy Lamarr', locale: 'fr-FR', time_zone: 'Europe/Paris' };
    await publisher.publish('PAYMENT_SUCCEEDED', payment);

    const isReceipt = (m: CapturedMail): boolean => m.headers['x-tidings-event-id'] === payment.event_id;
    const mail = (await ctx.mail.waitFor((all) => all.some(isReceipt))).find(isReceipt);
    // ICU separates the currency symbol with a no-break space.
    const plain = (text = ''): string => text.replace(/[\u00a0\u202f]/g, ' ');
    expect(plain(mail?.subject)).toBe('Reçu : votre paiement de 12,50 € pour la commande ord_fr_1');
    expect(plain(mail?.text)).toContain('Bonjour Hedy Lamarr,');
    expect(plain(mail?.text)).toContain(`Merci ! Nous avons bien reçu votre paiement de 12,50 € le ${plain(formatInstant(paidAt, 'fr-FR', 'Europe/Paris'))}.`);
    expect(plain(mail?.text)).toContain('Cet e-mail a été envoyé à francophone@example.com au sujet de votre compte Tidings.');
    expect(mail?.html).toContain('<html lang="fr">');

    const { version } = JSON.parse(fs.readFileSync(path.join(DEFAULT_TEMPLATES_DIR, 'fr', 'manifest.json'), 'utf8')) as { version: string };
    const email = await waitFor('the ledger to record the French email', async () => {
      const rows: Array<{ channel: string; status: string; template_version: string | null }> = await ledger(payment.event_id);
      return rows.find((r) => r.channel === 'email' && r.status === 'sent');
    });
    expect(email.template_version).toBe(`fr-${version}`);
  });
});
