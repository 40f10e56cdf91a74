import { startScheduler, type Scheduler } from '../../consumers/scheduler';
import type { Contact, SubscriptionCreated } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { ManualClock } from '../../src/scheduler/clock';
import { reminderDeliveryId } from '../../src/scheduler/delivery-id';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A day as a person in `timeZone` reads it, straight from Intl (what the email must show). */
function localDay(epochMs: number, locale: string, timeZone: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone, year: 'numeric', month: 'long', day: 'numeric' }).format(epochMs);
}

describe('scheduler: renewal reminders', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  const running = new Set<Scheduler>();
  // Every instance of this file reads the same clock, which only the tests move. Events
  // themselves carry real timestamps: the broker refuses records stamped in the future.
  const start = Math.floor(Date.now() / HOUR) * HOUR;
  const clock = new ManualClock(start);

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterAll(async () => {
    for (const scheduler of running) await scheduler.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  async function startInstance(): Promise<Scheduler> {
    const scheduler = await startScheduler(ctx.platform, {
      groupId: ctx.groupId('scheduler'),
      clock,
      pollIntervalMs: 50,
      batchSize: 5,
      sessionTimeoutMs: 6_000,
    });
    running.add(scheduler);
    return scheduler;
  }

  async function stopInstance(scheduler: Scheduler): Promise<void> {
    await scheduler.stop();
    running.delete(scheduler);
  }

  function contact(email: string, overrides: Partial<Contact> = {}): Contact {
    return { email, name: 'Emmy Noether', phone: null, locale: 'de-DE', time_zone: 'Europe/Berlin', ...overrides };
  }

  function created(userId: string, subscriptionId: string, renewsAt: number, recipient: Contact): SubscriptionCreated {
    return sampleEvent('SUBSCRIPTION_CREATED', {
      user_id: userId,
      subscription_id: subscriptionId,
      occurred_at: Date.now(),
      recipient,
      plan: { plan_id: 'pro-monthly', name: 'Pro', interval: 'MONTH', price: { amount_minor: 2900, currency: 'EUR' } },
      trial_ends_at: null,
      renews_at: renewsAt,
    });
  }

  // Moving the clock by days also brings the digests of these events due: count reminders only.
  const reminderMails = (email: string) => ctx.mail.to(email).filter((m) => m.headers['x-tidings-event-type'] === 'RENEWAL_REMINDER');
  const remindersSentBy = async (scheduler: Scheduler): Promise<number> => (await scheduler.dispatcher.tick())['renewal-reminder'] ?? -1;
  const reminders = (subscriptionId: string) => ctx.db('renewal_reminders').where({ subscription_id: subscriptionId }).orderBy('id');
  const statusOf = async (subscriptionId: string): Promise<string[]> => (await reminders(subscriptionId)).map((r: { status: string }) => r.status);

  it('sends a reminder scheduled before a restart exactly once after it, in the recipient’s locale and time zone', async () => {
    const first = await startInstance();
    // 23:30 UTC is already the next day in Berlin: the date shown must be the local one.
    const renewsAt = Math.floor(start / DAY) * DAY + 10 * DAY + 23.5 * HOUR;
    expect(localDay(renewsAt, 'de-DE', 'Europe/Berlin')).not.toBe(localDay(renewsAt, 'de-DE', 'UTC'));
    const event = created('user-restart', 'sub-restart', renewsAt, contact('restart@example.com'));
    await publisher.publish('SUBSCRIPTION_CREATED', event);

    await waitFor('the reminder row', async () => (await statusOf('sub-restart')).join() === 'scheduled');
    const [row] = await reminders('sub-restart');
    expect(row.remind_at.getTime()).toBe(renewsAt - 3 * DAY);
    expect(await remindersSentBy(first)).toBe(0);
    expect(reminderMails('restart@example.com')).toHaveLength(0);
    await stopInstance(first);

    clock.set(renewsAt - 2 * DAY);
    const second = await startInstance();
    await ctx.mail.waitFor(() => reminderMails('restart@example.com').length > 0);
    await waitFor('the reminder marked sent', async () => (await statusOf('sub-restart')).join() === 'sent');
    expect(await remindersSentBy(second)).toBe(0);

    const mails = reminderMails('restart@example.com');
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail?.subject).toMatch(new RegExp(`^Your Pro subscription renews on ${localDay(renewsAt, 'de-DE', 'Europe/Berlin')} \\(29,00\\s€\\)$`));
    expect(mail?.text).toContain('Hi Emmy Noether,');
    expect(mail?.text).toContain('for the next month');
    expect(mail?.text).toMatch(/Renews: +\d+\. \S+ \d{4}, 00:30 (MEZ|MESZ)/);
    expect(mail?.html).toContain('<strong>Pro</strong>');
    const deliveryId = reminderDeliveryId(String(row.id));
    expect(mail?.messageId).toBe(`<${deliveryId}.email@tidings.local>`);
    const ledger = await ctx.db('delivery_ledger').where({ event_id: deliveryId });
    expect(ledger).toMatchObject([{ status: 'sent', channel: 'email', recipient: 'restart@example.com', event_type: 'RENEWAL_REMINDER', attempts: 1, template_version: expect.stringMatching(/^en-\d{4}\./) }]);
  });

  it('sends no reminder for a cancelled subscription, and a later renewal replaces the pending reminder', async () => {
    const scheduler = [...running][0] ?? (await startInstance());
    const base = start + 30 * DAY;
    clock.set(base);
    const recipient = contact('cancel@example.com', { locale: 'en-GB', time_zone: 'Europe/London' });
    await publisher.publish('SUBSCRIPTION_CREATED', created('user-cancel', 'sub-kept', base + 10 * DAY, recipient));
    await publisher.publish('SUBSCRIPTION_CREATED', created('user-cancel', 'sub-cancelled', base + 10 * DAY, recipient));
    await publisher.publish(
      'SUBSCRIPTION_CANCELLED',
      sampleEvent('SUBSCRIPTION_CANCELLED', {
        user_id: 'user-cancel',
        occurred_at: Date.now(),
        recipient,
        subscription_id: 'sub-cancelled',
        cancelled_by: 'CUSTOMER',
        access_ends_at: base + 10 * DAY,
      }),
    );
    const renewed = sampleEvent('SUBSCRIPTION_RENEWED', {
      user_id: 'user-cancel',
      occurred_at: Date.now(),
      recipient,
      subscription_id: 'sub-kept',
      plan: { plan_id: 'pro-monthly', name: 'Pro', interval: 'MONTH', price: { amount_minor: 2900, currency: 'GBP' } },
      amount: { amount_minor: 2900, currency: 'GBP' },
      renews_at: base + 40 * DAY,
    });
    await publisher.publish('SUBSCRIPTION_RENEWED', renewed);

    await waitFor('cancellation and renewal applied', async () => (await statusOf('sub-cancelled')).join() === 'cancelled' && (await statusOf('sub-kept')).join() === 'superseded,scheduled');

    // Past the first reminder time: the cancelled and the replaced reminder stay silent.
    clock.set(base + 8 * DAY);
    expect(await remindersSentBy(scheduler)).toBe(0);
    expect(reminderMails('cancel@example.com')).toHaveLength(0);

    clock.set(base + 38 * DAY);
    await ctx.mail.waitFor(() => reminderMails('cancel@example.com').length > 0);
    await waitFor('the replacing reminder marked sent', async () => (await statusOf('sub-kept')).join() === 'superseded,sent');
    expect(await remindersSentBy(scheduler)).toBe(0);
    const mails = reminderMails('cancel@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe(`Your Pro subscription renews on ${localDay(base + 40 * DAY, 'en-GB', 'Europe/London')} (£29.00)`);
    expect(await statusOf('sub-cancelled')).toEqual(['cancelled']);
  });

  it('with two instances running, sends each of 50 due reminders exactly once', async () => {
    const instances = [...running];
    while (instances.length < 2) instances.push(await startInstance());
    const before = instances.map((s) => s.dispatcher.stats.sent['renewal-reminder'] ?? 0);
    const base = start + 100 * DAY;
    clock.set(base);
    const emails = Array.from({ length: 50 }, (_, i) => `many-${i}@example.com`);
    await Promise.all(emails.map((email, i) => publisher.publish('SUBSCRIPTION_CREATED', created(`user-many-${i}`, `sub-many-${i}`, base + 10 * DAY, contact(email)))));
    await waitFor('50 reminders scheduled', async () => {
      const [row] = await ctx.db('renewal_reminders').where('subscription_id', 'like', 'sub-many-%').andWhere({ status: 'scheduled' }).count<{ n: string }[]>('* as n');
      return row?.n === '50';
    });

    clock.set(base + 8 * DAY);
    await ctx.mail.waitFor(() => emails.every((email) => reminderMails(email).length > 0), 60_000);
    await waitFor('every reminder marked sent', async () => {
      const [row] = await ctx.db('renewal_reminders').where('subscription_id', 'like', 'sub-many-%').andWhere({ status: 'sent' }).count<{ n: string }[]>('* as n');
      return row?.n === '50';
    });
    // One more round on both: nothing is left to send.
    expect(await Promise.all(instances.map(remindersSentBy))).toEqual([0, 0]);

    for (const email of emails) expect(reminderMails(email)).toHaveLength(1);
    const sentBy = instances.map((s, i) => (s.dispatcher.stats.sent['renewal-reminder'] ?? 0) - (before[i] ?? 0));
    expect(sentBy.reduce((a, b) => a + b, 0)).toBe(50);
    const ledger = await ctx.db('delivery_ledger').where({ event_type: 'RENEWAL_REMINDER', status: 'sent' }).where('recipient', 'like', 'many-%');
    expect(ledger).toHaveLength(50);
    const claimers = await ctx.db('renewal_reminders').where('subscription_id', 'like', 'sub-many-%').distinct('claimed_by');
    process.stdout.write(`  reminders sent per instance: ${sentBy.join(' + ')} (claimers: ${claimers.length})\n`);
  });
});
