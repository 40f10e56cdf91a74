import { trace } from '@opentelemetry/api';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { LocalTwilio } from '../../src/dev/local-twilio';
import { sampleEvent } from '../../src/events/samples';
import { PreferenceStore } from '../../src/notifications/preferences';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { TwilioSmsProvider } from '../../src/notifications/providers/twilio-sms';
import { renderMetrics } from '../../src/observability/metrics';
import { startTelemetry, type Telemetry } from '../../src/observability/telemetry-sdk';
import type { Publisher } from '../../src/producer/publisher';
import { startConsumerProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { freePort } from '../helpers/free-port';
import { OtlpReceiver } from '../helpers/otlp-receiver';
import { textsOf } from '../helpers/span-texts';
import { Scrape, parsePrometheusText, scrape } from '../helpers/prometheus';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/**
 * Sends made after their event was processed (an SMS held by quiet hours, a renewal reminder, a
 * daily digest) are in the metrics as event notifications are: `tidings_deliveries_total` by
 * channel, provider and status, and `tidings_delivery_latency_seconds` under a category of their
 * own, measured from when they fell due. Never under `payment`: the payment SLA alert reads that
 * one, and an SMS held for a night would otherwise page someone every morning.
 */

const DAY = 86_400_000;
const INTERNAL = 1;
const STATUS_ERROR = 2;

/** This process's metrics, through the same text a scrape of its /metrics gets. */
async function ownMetrics(): Promise<Scrape> {
  return new Scrape(parsePrometheusText(await renderMetrics()));
}

/** How much `name{labels}` grew from `before` to `after`. */
function grew(after: Scrape, before: Scrape, name: string, labels: Record<string, string>): number {
  return after.sum(name, labels) - before.sum(name, labels);
}

describe('an SMS held by quiet hours, sent later by the deferred dispatcher (in this process: real broker, database, Twilio SDK against a local Twilio, OTLP exporter)', () => {
  let ctx: TestContext;
  let twilio: LocalTwilio;
  let receiver: OtlpReceiver;
  let telemetry: Telemetry;
  let consumer: NotificationConsumer;
  let publisher: Publisher;
  let clock = new Date('2026-11-25T23:30:00Z');
  const phone = '+15557650001';

  beforeAll(async () => {
    [ctx, twilio, receiver] = await Promise.all([createTestContext(), LocalTwilio.start(), OtlpReceiver.start()]);
    telemetry = startTelemetry({ serviceName: 'quiet-hours-worker', env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    consumer = await startNotificationConsumer(ctx.platform, {
      groupId: ctx.groupId('notification'),
      clock: () => clock,
      // Passes are the test's (dispatchDue), at the times it sets.
      deferred: { pollIntervalMs: 3_600_000 },
      channels: {
        sms: new FailoverProvider({
          channel: 'sms',
          providers: [new TwilioSmsProvider({ name: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url })],
        }),
      },
    });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await consumer?.stop();
    await telemetry?.shutdown();
    await Promise.all([twilio?.close(), receiver?.close()]);
    await ctx?.dispose();
  });

  it('counts the deferral, the failed attempt and the send by provider; the latency runs from the end of the quiet hours under category "deferred"; each send is a root span of its own', async () => {
    const preferences = new PreferenceStore(ctx.db);
    await preferences.set('night-owl', 'billing', 'sms', true);
    await preferences.setQuietHours('night-owl', { start: '22:00', end: '07:00', timeZone: 'UTC' });
    // A refund is a payment event, but not urgent: its SMS waits for the morning.
    const refund = sampleEvent('REFUND_PROCESSED', { user_id: 'night-owl' });
    refund.recipient = { ...refund.recipient, email: 'night-owl@example.com', phone, locale: 'en-US', time_zone: 'UTC' };
    const smsRow = () => ctx.db('delivery_ledger').where({ event_id: refund.event_id, channel: 'sms' }).first<{ status: string; not_before: Date | null } | undefined>();
    const before = await ownMetrics();
    await publisher.publish('REFUND_PROCESSED', refund);
    await waitFor('the refund SMS to be deferred', async () => (await smsRow())?.status === 'deferred', 60_000);
    expect((await smsRow())?.not_before).toEqual(new Date('2026-11-26T07:00:00Z'));
    const held = await ownMetrics();
    expect(grew(held, before, 'tidings_deliveries_total', { channel: 'sms', provider: 'none', status: 'deferred' })).toBe(1);

    // The first pass, 90 s after the quiet hours ended, finds Twilio down (503): a failed attempt, the SMS stays deferred.
    clock = new Date('2026-11-26T07:01:30Z');
    twilio.fail({ kind: 'unavailable' });
    expect(await consumer.deferred.dispatchDue()).toBe(0);
    expect((await smsRow())?.status).toBe('deferred');
    const refused = await ownMetrics();
    expect(grew(refused, held, 'tidings_deliveries_total', { channel: 'sms', provider: 'twilio', status: 'failed' })).toBe(1);
    expect(grew(refused, held, 'tidings_delivery_latency_seconds_count', { channel: 'sms' })).toBe(0);

    // The next pass sends it, run inside a span of the test's own: the send must not join that trace.
    twilio.fail(undefined);
    const unrelated = await trace.getTracer('test').startActiveSpan('unrelated work', async (span) => {
      try {
        expect(await consumer.deferred.dispatchDue()).toBe(1);
      } finally {
        span.end();
      }
      return span.spanContext();
    });
    expect(twilio.to(phone)).toHaveLength(1);
    expect((await smsRow())?.status).toBe('sent');
    const sent = await ownMetrics();
    expect(grew(sent, refused, 'tidings_deliveries_total', { channel: 'sms', provider: 'twilio', status: 'sent' })).toBe(1);
    // One observation: 90 s from the due time (07:00) to the acceptance (07:01:30 by the dispatcher's clock), not the
    // 7.5 hours since the publish; under `deferred`, so the payment latency (and its SLA alert) never sees it.
    const latency = (labels: Record<string, string>, series = 'count'): number => grew(sent, before, `tidings_delivery_latency_seconds_${series}`, { channel: 'sms', ...labels });
    expect(latency({ category: 'deferred' })).toBe(1);
    expect(latency({ category: 'deferred' }, 'sum')).toBe(90);
    expect([latency({ category: 'deferred', le: '60' }, 'bucket'), latency({ category: 'deferred', le: '120' }, 'bucket')]).toEqual([0, 1]);
    expect(latency({ category: 'payment' })).toBe(0);

    // Traces: each pass's send is the root of a trace of its own, its `sms send` a child; the
    // event id ties it to the event's `process` span. Nothing personal in any of them.
    await telemetry.forceFlush();
    const spans = await receiver.waitFor('both deferred sends with their SMS calls', (all) => all.filter((s) => s.name === 'deferred send').length === 2 && all.filter((s) => s.name === 'sms send').length === 2);
    const processed = spans.find((s) => s.name.startsWith('process ') && s.attributes['messaging.message.id'] === refund.event_id);
    expect(processed).toBeDefined();
    const sends = spans.filter((s) => s.name === 'deferred send').sort((a, b) => Number(a.startNs - b.startNs));
    expect(sends.map((s) => s.status.code === STATUS_ERROR)).toEqual([true, false]);
    for (const [i, send] of sends.entries()) {
      expect(send).toMatchObject({ kind: INTERNAL, parentSpanId: '', service: 'quiet-hours-worker' });
      const failure = i === 0 ? { 'error.type': 'PROVIDERS_UNAVAILABLE' } : {};
      expect(send.attributes).toEqual({ 'messaging.message.id': refund.event_id, 'tidings.event.type': 'REFUND_PROCESSED', 'tidings.channel': 'sms', ...failure });
      expect([processed?.traceId, unrelated.traceId]).not.toContain(send.traceId);
      const call = receiver.trace(send.traceId).filter((s) => s.name === 'sms send');
      expect(call).toEqual([expect.objectContaining({ parentSpanId: send.spanId, attributes: expect.objectContaining({ 'tidings.provider': 'twilio' }) })]);
    }
    expect(sends[0]?.traceId).not.toBe(sends[1]?.traceId);
    for (const span of sends.flatMap((s) => receiver.trace(s.traceId))) {
      for (const text of textsOf(span)) expect([span.name, [phone, 'night-owl'].some((p) => text.includes(p))]).toEqual([span.name, false]);
    }
  }, 120_000);
});

describe('renewal reminders and daily digests sent by a real `tidings run scheduler --metrics-port` process', () => {
  let ctx: TestContext;
  let worker: ConsumerProcess | undefined;
  let metricsUrl: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    worker = startConsumerProcess(ctx, { group: 'scheduler', metricsPort: port });
    await Promise.race([
      waitFor('the scheduler to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000, 200),
      worker.exited.then(({ code, output }) => Promise.reject(new Error(`the scheduler exited (${code}):\n${output}`))),
    ]);
  }, 90_000);

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    ctx.mail.refuse(undefined);
    await ctx?.dispose();
  });

  it('counts each scheduled email by provider and status, and its latency from when it fell due (or was scheduled, if later) under category "scheduled"', async () => {
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    const contact = (email: string) => ({ email, name: 'Ada Lovelace', phone: null, locale: 'en-GB', time_zone: 'Europe/London' });
    const subscription = (user: string, email: string) =>
      sampleEvent('SUBSCRIPTION_CREATED', { user_id: user, subscription_id: `sub-${user}`, occurred_at: Date.now(), recipient: contact(email), trial_ends_at: null, renews_at: Date.now() + DAY });
    ctx.mail.refuse({ code: 550, recipients: ['gone@example.com'] });
    try {
      // Renewals tomorrow: their reminders (3 days ahead) are due at once; one mailbox refuses for good (550).
      await publisher.publish('SUBSCRIPTION_CREATED', subscription('reminded-user', 'reminded@example.com'));
      await publisher.publish('SUBSCRIPTION_CREATED', subscription('gone-user', 'gone@example.com'));
      // A payment of three days ago: that day's digest was due two days ago.
      await publisher.publish('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'digest-user', occurred_at: Date.now() - 3 * DAY, recipient: contact('digested@example.com') }));
    } finally {
      await publisher.disconnect();
    }
    await ctx.mail.waitFor((all) => all.length === 2, 60_000);
    expect(ctx.mail.messages.map((m) => [m.to, m.headers['x-tidings-event-type']]).sort()).toEqual([
      [['digested@example.com'], 'DAILY_DIGEST'],
      [['reminded@example.com'], 'RENEWAL_REMINDER'],
    ]);

    const m = await waitFor(
      'the scheduled sends to be counted',
      async () => {
        const s = await scrape(metricsUrl);
        return s.sum('tidings_deliveries_total', { channel: 'email', status: 'sent' }) === 2 && s.sum('tidings_deliveries_total', { channel: 'email', status: 'failed' }) === 1 ? s : undefined;
      },
      60_000,
      200,
    );
    expect(m.series('tidings_deliveries_total').map((s) => [s.labels, s.value])).toEqual(
      expect.arrayContaining([
        [{ channel: 'email', provider: 'smtp-primary', status: 'sent' }, 2],
        [{ channel: 'email', provider: 'smtp-primary', status: 'failed' }, 1],
      ]),
    );
    expect(m.series('tidings_deliveries_total')).toHaveLength(2);
    // Two accepted emails, each within a minute of being scheduled, though their due times were days before.
    expect(m.sum('tidings_delivery_latency_seconds_count', { channel: 'email', category: 'scheduled' })).toBe(2);
    expect(m.sum('tidings_delivery_latency_seconds_bucket', { channel: 'email', category: 'scheduled', le: '60' })).toBe(2);
    expect(m.has('tidings_delivery_latency_seconds_count', { category: 'payment' })).toBe(false);
  }, 120_000);
});
