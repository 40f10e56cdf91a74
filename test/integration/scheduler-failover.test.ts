import { startScheduler, type Scheduler } from '../../consumers/scheduler';
import { readEnv } from '../../src/config/env';
import { MailCatcher } from '../../src/dev/mail-catcher';
import type { Contact, SubscriptionCreated } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { FailoverProvider } from '../../src/notifications/providers/failover';
import { createEmailChannel } from '../../src/notifications/providers/providers-from-env';
import { createLogger } from '../../src/observability/logger';
import type { Publisher } from '../../src/producer/publisher';
import { ManualClock } from '../../src/scheduler/clock';
import { digestDeliveryId, reminderDeliveryId } from '../../src/scheduler/delivery-id';
import { localDateOf } from '../../src/scheduler/zoned-time';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const DAY = 86_400_000;
const HOUR = 3_600_000;

interface AttemptRow {
  provider: string;
  status: string;
  error: string | null;
}

/**
 * Renewal reminders and daily digests take the one mail path event notifications take: the
 * email channel with failover and circuit breakers, the delivery ledger and its attempt rows.
 */
describe('scheduler: scheduled emails go through the email channel with failover', () => {
  let ctx: TestContext;
  let backup: MailCatcher;
  let email: FailoverProvider;
  let scheduler: Scheduler;
  let publisher: Publisher;
  const quiet = createLogger('test', 'silent');
  const start = Math.floor(Date.now() / HOUR) * HOUR;
  const clock = new ManualClock(start);

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 1 });
    backup = await MailCatcher.start();
    // The platform's SMTP server is the primary; SMTP_BACKUP_URL names the backup.
    email = createEmailChannel({ env: readEnv({ SMTP_URL: ctx.mail.url, SMTP_BACKUP_URL: backup.url }), logger: quiet });
    scheduler = await startScheduler(ctx.platform, { groupId: ctx.groupId('scheduler'), clock, email, logger: quiet, pollIntervalMs: 50, sessionTimeoutMs: 6_000, retryDelayMs: 1_000 });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterEach(() => {
    ctx.mail.refuse(undefined);
    backup.refuse(undefined);
  });

  afterAll(async () => {
    await scheduler?.stop();
    await email?.close();
    await publisher?.disconnect();
    await backup?.close();
    await ctx?.dispose();
  });

  function subscribe(user: string, renewsAt: number): SubscriptionCreated {
    const recipient: Contact = { email: `${user}@example.com`, name: 'Ada', phone: null, locale: 'en-US', time_zone: 'UTC' };
    return sampleEvent('SUBSCRIPTION_CREATED', {
      user_id: user,
      subscription_id: `sub-${user}`,
      occurred_at: Date.now(),
      recipient,
      plan: { plan_id: 'pro', name: 'Pro', interval: 'MONTH', price: { amount_minor: 1200, currency: 'USD' } },
      trial_ends_at: null,
      renews_at: renewsAt,
    });
  }

  const ofType = (mails: MailCatcher, to: string, type: string) => mails.to(to).filter((m) => m.headers['x-tidings-event-type'] === type);
  const ledgerOf = async (eventId: string) => (await ctx.db('delivery_ledger').where({ event_id: eventId }))[0] as { id: string; status: string; provider: string | null; attempts: number; error: string | null } | undefined;
  const attemptsOf = async (ledgerId: string): Promise<AttemptRow[]> => ctx.db('delivery_attempts').where({ ledger_id: ledgerId }).orderBy('id').select('provider', 'status', 'error');

  it('with the primary relay refusing (451), a due renewal reminder and daily digest are delivered by the backup, and the ledger and attempts say so', async () => {
    ctx.mail.refuse({ code: 451 });
    const event = subscribe('failover-user', start + 10 * DAY);
    await publisher.publish('SUBSCRIPTION_CREATED', event);
    const reminder = await waitFor('the reminder scheduled', async () => (await ctx.db('renewal_reminders').where({ subscription_id: event.subscription_id }))[0] as { id: string } | undefined);
    await waitFor('the digest entry', async () => (await ctx.db('digest_entries').where({ event_id: event.event_id })).length === 1);

    // Past the reminder time (renewal − 3 days) and the morning after the event's day: both are due.
    clock.set(start + 8 * DAY);
    await backup.waitFor(() => ofType(backup, event.recipient.email, 'RENEWAL_REMINDER').length > 0 && ofType(backup, event.recipient.email, 'DAILY_DIGEST').length > 0);
    await waitFor('both jobs marked sent', async () => {
      const [r] = await ctx.db('renewal_reminders').where({ id: reminder.id });
      const [d] = await ctx.db('daily_digests').where({ user_id: event.user_id });
      return r?.status === 'sent' && d?.status === 'sent';
    });

    expect(ctx.mail.to(event.recipient.email)).toHaveLength(0);
    const digestDay = localDateOf(event.occurred_at, 'UTC');
    for (const [type, deliveryId] of [
      ['RENEWAL_REMINDER', reminderDeliveryId(String(reminder.id))],
      ['DAILY_DIGEST', digestDeliveryId(event.user_id, digestDay)],
    ] as const) {
      const mails = ofType(backup, event.recipient.email, type);
      expect(mails).toHaveLength(1);
      expect(mails[0]?.messageId).toBe(`<${deliveryId}.email@tidings.local>`);
      const ledger = await ledgerOf(deliveryId);
      expect(ledger).toMatchObject({ status: 'sent', provider: 'smtp-backup', attempts: 1, error: null });
      const attempts = await attemptsOf(ledger!.id);
      expect(attempts.map((a) => [a.provider, a.status])).toEqual([
        ['smtp-primary', 'failed'],
        ['smtp-backup', 'sent'],
      ]);
      expect(attempts[0]?.error).toContain('451');
    }
  });

  it('a permanent refusal (550) is not tried on the backup nor retried: the ledger and the job say failed, with the attempt', async () => {
    ctx.mail.refuse({ code: 550 });
    const event = subscribe('refused-user', clock.now() + 2 * DAY);
    await publisher.publish('SUBSCRIPTION_CREATED', event);
    const reminder = await waitFor('the reminder given up', async () => {
      const [row] = await ctx.db('renewal_reminders').where({ subscription_id: event.subscription_id });
      return row?.status === 'failed' ? (row as { id: string; attempts: number; last_error: string }) : undefined;
    });

    expect(reminder.attempts).toBe(1);
    expect(reminder.last_error).toContain('550');
    expect(ofType(backup, event.recipient.email, 'RENEWAL_REMINDER')).toHaveLength(0);
    const ledger = await ledgerOf(reminderDeliveryId(String(reminder.id)));
    expect(ledger).toMatchObject({ status: 'failed', provider: null, attempts: 1, error: expect.stringContaining('550') });
    expect((await attemptsOf(ledger!.id)).map((a) => [a.provider, a.status])).toEqual([['smtp-primary', 'failed']]);
  });

  it('when both relays refuse for now, the reminder is kept pending with both attempts and goes out once a relay accepts', async () => {
    ctx.mail.refuse({ code: 451 });
    backup.refuse({ code: 451 });
    const event = subscribe('retried-user', clock.now() + 2 * DAY);
    await publisher.publish('SUBSCRIPTION_CREATED', event);
    const released = await waitFor('the reminder given back for a retry', async () => {
      const [row] = await ctx.db('renewal_reminders').where({ subscription_id: event.subscription_id });
      return row?.status === 'scheduled' && row.attempts === 1 ? (row as { id: string; next_attempt_at: Date }) : undefined;
    });
    // Due again after the retry delay (1 s with full jitter: at least half of it), on the scheduler's clock.
    expect(released.next_attempt_at.getTime()).toBeGreaterThanOrEqual(clock.now() + 500);
    const ledger = await ledgerOf(reminderDeliveryId(String(released.id)));
    expect(ledger).toMatchObject({ status: 'pending', attempts: 1, error: expect.stringContaining('smtp-backup') });
    expect((await attemptsOf(ledger!.id)).map((a) => [a.provider, a.status])).toEqual([
      ['smtp-primary', 'failed'],
      ['smtp-backup', 'failed'],
    ]);

    ctx.mail.refuse(undefined);
    clock.advance(2_000);
    await ctx.mail.waitFor(() => ofType(ctx.mail, event.recipient.email, 'RENEWAL_REMINDER').length > 0);
    await waitFor('the reminder marked sent', async () => (await ctx.db('renewal_reminders').where({ id: released.id }))[0]?.status === 'sent');
    expect(ofType(ctx.mail, event.recipient.email, 'RENEWAL_REMINDER')).toHaveLength(1);
    expect(await ledgerOf(reminderDeliveryId(String(released.id)))).toMatchObject({ status: 'sent', provider: 'smtp-primary', attempts: 2, error: null });
    expect((await attemptsOf(ledger!.id)).map((a) => [a.provider, a.status])).toEqual([
      ['smtp-primary', 'failed'],
      ['smtp-backup', 'failed'],
      ['smtp-primary', 'sent'],
    ]);
  });
});
