import { readEnv } from '../../src/config/env';
import { createDb, type Db } from '../../src/db/database';
import { sampleEvent } from '../../src/events/samples';
import type { ChannelSender } from '../../src/notifications/channels/channel-sender';
import type { FailoverProvider } from '../../src/notifications/providers/failover';
import { createEmailChannel } from '../../src/notifications/providers/providers-from-env';
import { createLogger } from '../../src/observability/logger';
import { ManualClock } from '../../src/scheduler/clock';
import { reminderDeliveryId } from '../../src/scheduler/delivery-id';
import { Dispatcher } from '../../src/scheduler/dispatcher';
import { schedulerSettings, type SchedulerOptions } from '../../src/scheduler/options';
import { RenewalReminderJobs, scheduleReminder } from '../../src/scheduler/renewal-reminders';
import { ScheduledEmailRenderer } from '../../src/scheduler/scheduled-email';
import { TcpProxy } from '../helpers/tcp-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const DAY = 86_400_000;

/**
 * The dispatcher reaches PostgreSQL through a proxy this file can cut, so an outage hits this
 * dispatcher alone and the shared server keeps running.
 */
describe('scheduler dispatcher: a database outage', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  let db: Db;
  let email: FailoverProvider;
  /** Called as the dispatcher hands a message to the (real) email channel. */
  let onSend: (() => void) | undefined;
  const observed: ChannelSender = {
    sendWithAttempts: (message) => {
      onSend?.();
      return email.sendWithAttempts(message);
    },
  };
  const dispatchers: Dispatcher[] = [];
  const quiet = createLogger('test', 'silent');
  const clock = new ManualClock(Date.now());
  const renderer = new ScheduledEmailRenderer();

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 1 });
    const target = new URL(ctx.databaseUrl);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    db = createDb(proxy.via(ctx.databaseUrl));
    email = createEmailChannel({ env: readEnv({ SMTP_URL: ctx.mail.url }), logger: quiet });
  });

  afterEach(async () => {
    onSend = undefined;
    proxy.restore();
    ctx.mail.slowDown(0);
    for (const d of dispatchers.splice(0)) await d.stop();
  });

  afterAll(async () => {
    await email?.close();
    await db?.destroy();
    await proxy?.close();
    await ctx?.dispose();
  });

  function dispatcher(instanceId: string, options: SchedulerOptions = {}): Dispatcher {
    const settings = schedulerSettings({ pollIntervalMs: 50, leaseMs: 3_000, outageBackoff: { initialMs: 100, maxMs: 1_000 }, ...options });
    const d = new Dispatcher({ db, email: observed, clock, settings, instanceId, logger: quiet, jobs: [new RenewalReminderJobs(db, renderer, instanceId)] });
    dispatchers.push(d);
    return d;
  }

  /** A reminder due now; returns its row id and recipient. */
  async function dueReminder(user: string): Promise<{ id: string; to: string }> {
    const to = `${user}@example.com`;
    const event = sampleEvent('SUBSCRIPTION_CREATED', {
      user_id: user,
      subscription_id: `sub-${user}`,
      recipient: { email: to, name: null, phone: null, locale: 'en-US', time_zone: 'UTC' },
      renews_at: clock.now() + 2 * DAY,
    });
    await ctx.db.transaction((trx) => scheduleReminder(trx, event, 3));
    const [row] = await ctx.db('renewal_reminders').where({ subscription_id: event.subscription_id });
    return { id: String(row.id), to };
  }

  const reminderRow = async (id: string) => (await ctx.db('renewal_reminders').where({ id }))[0] as { status: string; claimed_by: string | null };
  const ledgerRow = async (id: string) => (await ctx.db('delivery_ledger').where({ event_id: reminderDeliveryId(id) }))[0] as { id: string; status: string } | undefined;

  /** Starts `d`, lets the relay take the reminder slowly (1.5 s), and cuts the database as the send begins. */
  async function cutDuringTheSend(d: Dispatcher, reminder: { id: string; to: string }): Promise<void> {
    ctx.mail.slowDown(1_500);
    const sending = new Promise<void>((resolve) => (onSend = resolve));
    d.start();
    await sending;
    proxy.cut();
    await ctx.mail.waitFor((mails) => mails.some((m) => m.to.includes(reminder.to)));
  }

  it('an outage right after the relay accepted a reminder does not send it twice: the ledger write waits for the database', async () => {
    const reminder = await dueReminder('outage-after-send');
    const d = dispatcher('outage-a');
    await cutDuringTheSend(d, reminder);
    // Down for longer than the job's lease: it must not be taken as abandoned and sent again.
    await waitFor('the lease run out', async () => (await ctx.db('renewal_reminders').where({ id: reminder.id }).whereRaw('lease_expires_at < now()')).length === 1);

    proxy.restore();
    await waitFor('the reminder marked sent', async () => (await reminderRow(reminder.id)).status === 'sent');
    expect(await ledgerRow(reminder.id)).toMatchObject({ status: 'sent' });
    expect(ctx.mail.to(reminder.to)).toHaveLength(1);
    expect(d.stats.sent['renewal-reminder']).toBe(1);
    expect(d.stats.ledgerRetries).toBeGreaterThan(0);
  });

  it('stop() during the outage returns at once, from the outage backoff and from a waiting ledger write, and leaves the job to its lease', async () => {
    // Idle, the database goes away: the next rounds fail and back off (10 s, then more).
    const idle = dispatcher('outage-idle', { outageBackoff: { initialMs: 10_000, maxMs: 60_000 } });
    idle.start();
    proxy.cut();
    await waitFor('a failed round', () => idle.stats.outages > 0);
    let started = Date.now();
    await idle.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    proxy.restore();

    // Sent, but the database went away before it was recorded.
    const reminder = await dueReminder('outage-stop');
    const d = dispatcher('outage-b', { outageBackoff: { initialMs: 10_000, maxMs: 60_000 } });
    await cutDuringTheSend(d, reminder);
    await waitFor('the ledger write retried', () => d.stats.ledgerRetries > 0);
    started = Date.now();
    await d.stop();
    expect(Date.now() - started).toBeLessThan(1_000);

    proxy.restore();
    // Nothing recorded: the job stays claimed until its lease runs out, then another instance
    // takes it (and sends again: the documented accept→ledger window).
    expect(await reminderRow(reminder.id)).toMatchObject({ status: 'claimed', claimed_by: 'outage-b' });
    expect(await ledgerRow(reminder.id)).toMatchObject({ status: 'pending' });
  });
});
