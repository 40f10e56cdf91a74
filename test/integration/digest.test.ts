import { startScheduler, type Scheduler } from '../../consumers/scheduler';
import type { Contact, EventMap, Money } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { ManualClock } from '../../src/scheduler/clock';
import { digestDeliveryId } from '../../src/scheduler/delivery-id';
import type { PaymentEventType } from '../../src/scheduler/digest-entry';
import { addDays, instantAtLocalHour, localDateOf } from '../../src/scheduler/zoned-time';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const HOUR = 3_600_000;

interface User {
  id: string;
  contact: Contact;
  currency: string;
}

const ZONES = [
  { timeZone: 'Asia/Tokyo', locale: 'ja-JP', currency: 'JPY', users: 4 },
  { timeZone: 'Europe/Berlin', locale: 'de-DE', currency: 'EUR', users: 3 },
  { timeZone: 'America/Los_Angeles', locale: 'en-US', currency: 'USD', users: 3 },
];

/** Hour and minute on a person's wall clock in `timeZone`, straight from Intl. */
function wallTime(epochMs: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(epochMs);
}

describe('scheduler: daily transaction digest', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  const instances: Scheduler[] = [];
  // Events carry real (past) timestamps, as the broker requires; the digest day is three
  // days ago in UTC. The injected clock starts on that day, before any zone's next morning,
  // and the tests move it to the mornings after it.
  const day = addDays(new Date(Date.now()).toISOString().slice(0, 10), -3);
  const clock = new ManualClock(Date.parse(`${day}T00:00:00Z`));
  const users: User[] = ZONES.flatMap((zone) =>
    Array.from({ length: zone.users }, (_, i) => ({
      id: `user-${zone.timeZone.split('/')[1]?.toLowerCase()}-${i}`,
      currency: zone.currency,
      contact: { email: `digest-${zone.timeZone.split('/')[1]?.toLowerCase()}-${i}@example.com`, name: `Digest User ${i}`, phone: null, locale: zone.locale, time_zone: zone.timeZone },
    })),
  );
  const sendAt = (user: User) => instantAtLocalHour(addDays(day, 1), 8, user.contact.time_zone ?? 'UTC');

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    for (let i = 0; i < 2; i++) {
      instances.push(
        await startScheduler(ctx.platform, { groupId: ctx.groupId('scheduler'), clock, pollIntervalMs: 50, batchSize: 3, sessionTimeoutMs: 6_000 }),
      );
    }
  });

  afterAll(async () => {
    for (const scheduler of instances) await scheduler.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  async function publish<T extends PaymentEventType>(type: T, user: User, localHour: number, fields: Partial<EventMap[T]>): Promise<string> {
    const event = sampleEvent(type, { user_id: user.id, recipient: user.contact, occurred_at: instantAtLocalHour(day, localHour, user.contact.time_zone ?? 'UTC'), ...fields } as Partial<EventMap[T]>);
    await publisher.publish(type, event);
    return event.event_id;
  }

  const money = (amount_minor: number, currency: string): Money => ({ amount_minor, currency });
  const digestMails = (user: User) => ctx.mail.to(user.contact.email).filter((m) => m.headers['x-tidings-event-type'] === 'DAILY_DIGEST');

  it('sends one digest per user per day at 08:00 in each user’s time zone, with two instances, and the totals per currency', async () => {
    const [emmy] = users.filter((u) => u.contact.time_zone === 'Europe/Berlin');
    if (!emmy) throw new Error('no Berlin user');
    // Emmy's day: two currencies, a refund, a failed payment (not charged) and a renewal.
    await publish('PAYMENT_SUCCEEDED', emmy, 9, { payment_id: 'pay_emmy_1', amount: money(1999, 'EUR'), items: [] });
    await publish('PAYMENT_SUCCEEDED', emmy, 10, { payment_id: 'pay_emmy_usd', amount: money(2500, 'USD'), items: [] });
    await publish('REFUND_PROCESSED', emmy, 13, { refund_id: 're_emmy_1', amount: money(500, 'EUR'), items: [] });
    await publish('PAYMENT_FAILED', emmy, 18, { payment_id: 'pay_emmy_failed', amount: money(700, 'EUR') });
    await publish('SUBSCRIPTION_RENEWED', emmy, 23, { payment_id: 'pay_emmy_renewal', amount: money(900, 'EUR') });
    // Midnight starts the next local day: that event belongs to the next day's digest.
    await publish('PAYMENT_SUCCEEDED', emmy, 24, { payment_id: 'pay_emmy_next_day', amount: money(100, 'EUR'), items: [] });
    const others = users.filter((u) => u !== emmy);
    for (const user of others) {
      await publish('PAYMENT_SUCCEEDED', user, 11, { payment_id: `pay_${user.id}`, amount: money(user.currency === 'JPY' ? 1500 : 1250, user.currency), items: [] });
      await publish('REFUND_PROCESSED', user, 15, { refund_id: `re_${user.id}`, amount: money(user.currency === 'JPY' ? 500 : 250, user.currency), items: [] });
    }
    const expectedEntries = 6 + others.length * 2;
    await waitFor('every event in a digest', async () => {
      const [row] = await ctx.db('digest_entries').count<{ n: string }[]>('* as n');
      return row?.n === String(expectedEntries);
    });

    // Each digest is due at 08:00 the next morning on the user's own wall clock.
    const digests = await ctx.db('daily_digests').select('user_id', ctx.db.raw('digest_date::text AS digest_date'), 'next_attempt_at', 'time_zone');
    expect(digests).toHaveLength(users.length + 1);
    for (const user of users) {
      const digest = digests.find((d: { user_id: string; digest_date: string }) => d.user_id === user.id && d.digest_date === day);
      expect(digest?.next_attempt_at.getTime()).toBe(sendAt(user));
      expect(wallTime(sendAt(user), user.contact.time_zone ?? 'UTC')).toBe('08:00');
      expect(localDateOf(sendAt(user), user.contact.time_zone ?? 'UTC')).toBe(addDays(day, 1));
    }

    // Tokyo's and Berlin's morning has come, Los Angeles' not yet.
    const losAngeles = users.filter((u) => u.contact.time_zone === 'America/Los_Angeles');
    const morningDone = users.filter((u) => !losAngeles.includes(u));
    clock.set(Math.max(...morningDone.map(sendAt)) + HOUR);
    expect(clock.now()).toBeLessThan(Math.min(...losAngeles.map(sendAt)));
    await ctx.mail.waitFor(() => morningDone.every((u) => digestMails(u).length > 0));
    await waitFor('digests marked sent', async () => (await ctx.db('daily_digests').where({ status: 'sent' })).length === morningDone.length);
    expect((await Promise.all(instances.map((s) => s.dispatcher.tick()))).map((sent) => sent['daily-digest'])).toEqual([0, 0]);
    for (const user of losAngeles) expect(digestMails(user)).toHaveLength(0);

    clock.set(Math.max(...losAngeles.map(sendAt)));
    await ctx.mail.waitFor(() => losAngeles.every((u) => digestMails(u).length > 0));
    await waitFor('all digests marked sent', async () => (await ctx.db('daily_digests').where({ status: 'sent' })).length === users.length);
    expect((await Promise.all(instances.map((s) => s.dispatcher.tick()))).map((sent) => sent['daily-digest'])).toEqual([0, 0]);
    for (const user of users) expect(digestMails(user)).toHaveLength(1);
    const sentBy = instances.map((s) => s.dispatcher.stats.sent['daily-digest'] ?? 0);
    expect(sentBy[0]! + sentBy[1]!).toBe(users.length);
    process.stdout.write(`  digests sent per instance: ${sentBy.join(' + ')}\n`);

    const ledger = await ctx.db('delivery_ledger').where({ event_type: 'DAILY_DIGEST' });
    expect(ledger).toHaveLength(users.length);
    expect(ledger.every((r: { status: string }) => r.status === 'sent')).toBe(true);
    expect(ledger.map((r: { event_id: string }) => r.event_id).sort()).toEqual(users.map((u) => digestDeliveryId(u.id, day)).sort());

    // Content: count, totals per currency (refunds subtract, failed payments move nothing), the list.
    const [mail] = digestMails(emmy);
    expect(mail?.text).toContain('5 payment events');
    expect(mail?.text).toMatch(/EUR +charged 28,99\s€ +refunded 5,00\s€ +net 23,99\s€/);
    expect(mail?.text).toMatch(/USD +charged 25,00\s\$ +refunded 0,00\s\$ +net 25,00\s\$/);
    for (const reference of ['pay_emmy_1', 'pay_emmy_usd', 're_emmy_1', 'pay_emmy_failed', 'pay_emmy_renewal']) expect(mail?.text).toContain(reference);
    expect(mail?.text).toContain('Failed payment (not charged) pay_emmy_failed  7,00');
    expect(mail?.text).not.toContain('pay_emmy_next_day');
    expect(mail?.subject).toMatch(/^Your payments on \d+\. \S+ \d{4}: 5 payment events$/);
    expect(mail?.html).toContain('23,99');
    const [tokyo] = users;
    expect(digestMails(tokyo!)[0]?.text).toMatch(/JPY +charged ￥1,500 +refunded ￥500 +net ￥1,000/);
    const [sentDigest] = await ctx.db('daily_digests').where({ user_id: emmy.id, digest_date: day });
    expect(sentDigest?.entry_count).toBe(5);
  });

  it('puts an event that arrives after its day’s digest went out into the user’s next digest, flagged late', async () => {
    const [tokyo] = users;
    if (!tokyo) throw new Error('no user');
    const eventId = await publish('PAYMENT_SUCCEEDED', tokyo, 20, { payment_id: 'pay_tokyo_late', amount: money(300, 'JPY'), items: [] });
    const entry = await waitFor('the late entry', async () => (await ctx.db('digest_entries').where({ event_id: eventId }))[0] as { digest_id: string; late: boolean } | undefined);
    if (!entry) throw new Error('unreachable: waitFor returns a found entry');
    expect(entry.late).toBe(true);
    const [digest] = await ctx.db('daily_digests').where({ id: entry.digest_id }).select(ctx.db.raw('digest_date::text AS digest_date'), 'status');
    // "Today" for the clock in Tokyo, whose digest is still open.
    expect(digest).toEqual({ digest_date: localDateOf(clock.now(), 'Asia/Tokyo'), status: 'scheduled' });
    expect(digestMails(tokyo)).toHaveLength(1);

    clock.set(instantAtLocalHour(addDays(digest.digest_date, 1), 8, 'Asia/Tokyo'));
    await ctx.mail.waitFor(() => digestMails(tokyo).length === 2);
    expect(digestMails(tokyo)[1]?.text).toMatch(/pay_tokyo_late +￥300 +\(from an earlier day, recorded late\)/);
  });
});
