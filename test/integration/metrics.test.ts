import { startNotificationConsumer } from '../../consumers/notification';
import { readEnv } from '../../src/config/env';
import { dlqTopic, retryTopic } from '../../src/consumer/retry-topology';
import type { PasswordResetRequested } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import type { OutboundMessage } from '../../src/notifications/channels/channel';
import { createEmailChannel } from '../../src/notifications/providers/providers-from-env';
import { renderMetrics } from '../../src/observability/metrics';
import { TEST_USER_TOKEN_SECRET } from '../helpers/http';
import { startConsumerProcess, startTidingsProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { freePort } from '../helpers/free-port';
import { Scrape, parsePrometheusText, scrape } from '../helpers/prometheus';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/** Ends a process started by the test and waits for it (SIGKILL if it does not stop in time). */
async function stop(process: ConsumerProcess | undefined): Promise<void> {
  if (!process || process.child.exitCode !== null) return;
  process.child.kill('SIGTERM');
  const timer = setTimeout(() => process.child.kill('SIGKILL'), 20_000);
  await process.exited;
  clearTimeout(timer);
}

/** Scrapes until `condition` holds over a scrape; returns that scrape. */
async function scrapeUntil(url: string, what: string, condition: (metrics: Scrape) => boolean, timeoutMs = 60_000): Promise<Scrape> {
  let last: Scrape | undefined;
  await waitFor(what, async () => condition((last = await scrape(url))), timeoutMs, 200);
  return last as Scrape;
}

function passwordReset(email: string): PasswordResetRequested {
  const event = sampleEvent('PASSWORD_RESET_REQUESTED');
  return { ...event, recipient: { ...event.recipient, email } };
}

describe('Prometheus metrics of a real worker process (tidings run notification --metrics-port)', () => {
  let ctx: TestContext;
  let worker: ConsumerProcess | undefined;
  let metricsUrl: string;
  const group = (): string => ctx.groupId('notification');
  const topology = (): { name: string; sources: string[]; delaysMs: number[] } => ({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] });

  beforeAll(async () => {
    ctx = await createTestContext();
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    // Two short tiers, and the lag read every half second instead of every 15 s.
    worker = startConsumerProcess(ctx, { metricsPort: port, retryDelays: '300ms,600ms', env: { TIDINGS_LAG_METRICS_INTERVAL: '500ms' } });
    await waitFor('the worker to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000, 200);
  }, 90_000);

  afterAll(async () => {
    await stop(worker);
    await ctx?.dispose();
  });

  it('counts what it consumed, processed and failed by group, topic, event type and outcome; delivery, latency, lag and DLQ match the real effects', async () => {
    const before = await scrape(metricsUrl);
    // Created at 0 when the runtime started, before any record: "processing stopped" is a series with rate 0, not a gap.
    expect(before.series('tidings_consumer_committed_records_total', { consumergroup: group() })).toEqual([expect.objectContaining({ value: 0 })]);
    expect(before.series('tidings_consumer_committed_records_total', { consumergroup: `${group()}.retry` })).toEqual([expect.objectContaining({ value: 0 })]);
    // The default process metrics are there too.
    expect(before.has('process_cpu_user_seconds_total')).toBe(true);
    expect(before.has('nodejs_eventloop_lag_seconds')).toBe(true);

    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    const raw = ctx.platform.kafka.producer();
    await raw.connect();
    try {
      // 4 password resets and 3 payments are delivered; one reset to a mailbox that refuses
      // (451) goes through both tiers to the DLQ; one record that is not Avro goes to the DLQ at once.
      ctx.mail.refuse({ code: 451, recipients: ['doomed@example.com'] });
      const resets = Array.from({ length: 4 }, (_, i) => passwordReset(`reset-${i}@example.com`));
      const payments = Array.from({ length: 3 }, (_, i) => sampleEvent('PAYMENT_SUCCEEDED', { user_id: `metrics-payer-${i}` }));
      for (const e of resets) await publisher.publish('PASSWORD_RESET_REQUESTED', e);
      for (const e of payments) await publisher.publish('PAYMENT_SUCCEEDED', e);
      await publisher.publish('PASSWORD_RESET_REQUESTED', passwordReset('doomed@example.com'));
      await raw.send({ topic: ctx.topics.auth, messages: [{ key: 'garbage', value: Buffer.from('not avro') }] });

      const authDlq = dlqTopic(topology(), ctx.topics.auth);
      await waitFor('both dead letters', async () => (await countRecords(ctx.platform.kafka, authDlq)) === 2, 60_000);
      await ctx.mail.waitFor((all) => all.length === 7, 60_000);
      const tier1 = retryTopic(topology(), ctx.topics.auth, 1);
      const tier2 = retryTopic(topology(), ctx.topics.auth, 2);
      const g = group();
      const retryGroup = `${g}.retry`;

      // Lag is read every 500 ms: wait until it says every group drained and the DLQ gauge caught up.
      const m = await scrapeUntil(metricsUrl, 'the counters and lag to settle', (s) =>
        s.sum('tidings_consumer_committed_records_total', { consumergroup: g }) === 9 &&
        s.sum('tidings_consumer_committed_records_total', { consumergroup: retryGroup }) === 2 &&
        s.sum('tidings_dlq_messages', { topic: authDlq }) === 2 &&
        s.has('kafka_consumergroup_lag_sum', { consumergroup: retryGroup, topic: tier2 }) &&
        s.sum('kafka_consumergroup_lag_sum', { consumergroup: g }) === 0 &&
        s.sum('kafka_consumergroup_lag_sum', { consumergroup: retryGroup }) === 0,
      );

      const consumed = (labels: Record<string, string>): number => m.sum('tidings_events_consumed_total', labels);
      expect(consumed({ consumergroup: g, topic: ctx.topics.auth, event_type: 'PASSWORD_RESET_REQUESTED' })).toBe(5);
      expect(consumed({ consumergroup: g, topic: ctx.topics.auth, event_type: 'unknown' })).toBe(1);
      expect(consumed({ consumergroup: g, topic: ctx.topics.payment, event_type: 'PAYMENT_SUCCEEDED' })).toBe(3);
      expect(consumed({ consumergroup: retryGroup, topic: tier1, event_type: 'PASSWORD_RESET_REQUESTED' })).toBe(1);
      expect(consumed({ consumergroup: retryGroup, topic: tier2, event_type: 'PASSWORD_RESET_REQUESTED' })).toBe(1);
      expect(consumed({})).toBe(11);

      const processed = (labels: Record<string, string>): number => m.sum('tidings_events_processed_total', labels);
      expect(processed({ consumergroup: g, topic: ctx.topics.auth, event_type: 'PASSWORD_RESET_REQUESTED', outcome: 'success' })).toBe(4);
      expect(processed({ consumergroup: g, topic: ctx.topics.payment, event_type: 'PAYMENT_SUCCEEDED', outcome: 'success' })).toBe(3);
      expect(processed({})).toBe(7);

      const failed = (labels: Record<string, string>): number => m.sum('tidings_events_failed_total', labels);
      expect(failed({ consumergroup: g, topic: ctx.topics.auth, event_type: 'PASSWORD_RESET_REQUESTED', outcome: 'retry' })).toBe(1);
      expect(failed({ consumergroup: retryGroup, topic: tier1, event_type: 'PASSWORD_RESET_REQUESTED', outcome: 'retry' })).toBe(1);
      expect(failed({ consumergroup: retryGroup, topic: tier2, event_type: 'PASSWORD_RESET_REQUESTED', outcome: 'dead_letter' })).toBe(1);
      expect(failed({ consumergroup: g, topic: ctx.topics.auth, event_type: 'unknown', outcome: 'dead_letter' })).toBe(1);
      expect(failed({})).toBe(4);

      // Every record read is in the processing histogram, under the topic it was read from.
      expect(m.sum('tidings_processing_duration_seconds_count', { consumergroup: g, topic: ctx.topics.auth })).toBe(6);
      expect(m.sum('tidings_processing_duration_seconds_count', { consumergroup: retryGroup })).toBe(2);

      // Deliveries: what the SMTP server accepted, and the three refusals of the doomed mailbox.
      expect(m.sum('tidings_deliveries_total', { channel: 'email', provider: 'smtp-primary', status: 'sent' })).toBe(ctx.mail.messages.length);
      expect(m.sum('tidings_deliveries_total', { channel: 'email', provider: 'smtp-primary', status: 'failed' })).toBe(3);
      const inApp = await ctx.db('in_app_notifications').count({ n: '*' }).first();
      expect(m.sum('tidings_deliveries_total', { channel: 'in_app', status: 'sent' })).toBe(Number(inApp?.n));
      // What the ledger ended with, sent or suppressed (SMS is off in this worker: planned as suppressed), per channel.
      const ledger = (await ctx.db('delivery_ledger').whereIn('status', ['sent', 'suppressed']).select('channel', 'status').count({ n: '*' }).groupBy('channel', 'status')) as Array<{ channel: string; status: string; n: string }>;
      expect(ledger.some((row) => row.channel === 'sms' && row.status === 'suppressed')).toBe(true);
      for (const row of ledger) expect([row.channel, row.status, m.sum('tidings_deliveries_total', { channel: row.channel, status: row.status })]).toEqual([row.channel, row.status, Number(row.n)]);
      // Publish → SMTP accepted, one observation per mail, by family.
      expect(m.sum('tidings_delivery_latency_seconds_count', { channel: 'email' })).toBe(ctx.mail.messages.length);
      expect(m.sum('tidings_delivery_latency_seconds_count', { channel: 'email', category: 'auth' })).toBe(4);
      expect(m.sum('tidings_delivery_latency_seconds_count', { channel: 'email', category: 'payment' })).toBe(3);
      expect(m.sum('tidings_delivery_latency_seconds_sum', { channel: 'email' })).toBeGreaterThan(0);
      // A refused recipient is not the provider's fault: its circuit stays closed.
      expect(m.sum('tidings_circuit_breaker_state', { provider: 'smtp-primary' })).toBe(0);

      // Lag per partition of each source, the tiers' depth, and the DLQ as the topic holds it.
      expect(m.series('kafka_consumergroup_lag', { consumergroup: g, topic: ctx.topics.auth })).toHaveLength(3);
      expect(m.series('tidings_retry_tier_depth', { consumergroup: g, topic: tier1, tier: '1' })).toEqual([expect.objectContaining({ value: 0 })]);
      expect(m.sum('tidings_dlq_messages', { topic: authDlq })).toBe(await countRecords(ctx.platform.kafka, authDlq));
      expect(m.sum('tidings_dlq_messages', { topic: dlqTopic(topology(), ctx.topics.payment) })).toBe(0);
    } finally {
      ctx.mail.refuse(undefined);
      await raw.disconnect();
      await publisher.disconnect();
    }
  }, 120_000);

  it('the API and the outbox relay export the outbox backlog: rows enqueued while no relay runs, then 0 once it has drained them', async () => {
    const apiPort = await freePort();
    const relayPort = await freePort();
    const env = {
      DATABASE_URL: ctx.databaseUrl,
      KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
      TIDINGS_TOPIC_PREFIX: `${ctx.id}.`,
      TIDINGS_USER_TOKEN_SECRET: TEST_USER_TOKEN_SECRET,
      LOG_LEVEL: 'warn',
    };
    const api = startTidingsProcess(['api', '--port', String(apiPort)], env);
    let relay: ConsumerProcess | undefined;
    try {
      const apiMetrics = `http://127.0.0.1:${apiPort}/metrics`;
      await waitFor('the API to serve', async () => (await fetch(`http://127.0.0.1:${apiPort}/healthz`)).status === 200, 60_000, 200);
      const outbox = ctx.platform.createOutbox();
      await ctx.db.transaction(async (trx) => {
        for (let i = 0; i < 3; i++) await outbox.enqueue(trx, 'PASSWORD_RESET_REQUESTED', passwordReset(`outbox-${i}@example.com`));
      });
      const waiting = await scrapeUntil(apiMetrics, 'the backlog to be seen with an age', (s) => s.sum('tidings_outbox_oldest_age_seconds') > 0);
      expect(waiting.sum('tidings_outbox_backlog_rows')).toBe(3);
      // The API's own process metrics are there; a worker's counters are not its business.
      expect(waiting.has('process_resident_memory_bytes')).toBe(true);

      relay = startConsumerProcess(ctx, { group: 'outbox-relay', metricsPort: relayPort });
      const relayMetrics = `http://127.0.0.1:${relayPort}/metrics`;
      const drained = await scrapeUntil(relayMetrics, 'the relay to report an empty outbox', (s) => s.has('tidings_outbox_backlog_rows') && s.sum('tidings_outbox_backlog_rows') === 0);
      expect(drained.sum('tidings_outbox_oldest_age_seconds')).toBe(0);
      expect((await fetch(`http://127.0.0.1:${relayPort}/readyz`)).status).toBe(200);
      const after = await scrape(apiMetrics);
      expect(after.sum('tidings_outbox_backlog_rows')).toBe(0);
      expect(after.sum('tidings_outbox_oldest_age_seconds')).toBe(0);
    } finally {
      await stop(relay);
      await stop(api);
    }
  }, 120_000);
});

/** This process's metrics, through the same text a scrape gets. */
async function ownMetrics(): Promise<Scrape> {
  return new Scrape(parsePrometheusText(await renderMetrics()));
}

describe('metrics of providers and rate limits (in this process, against the real SMTP server and database)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext();
  });

  afterAll(async () => {
    ctx.mail.refuse(undefined);
    ctx.mail.slowDown(0);
    await ctx?.dispose();
  });

  it('the circuit breaker gauge follows the SMTP provider: closed, open after failures, half-open once the cool-down has passed (before any call) and during the trial, closed again', async () => {
    let now = Date.now();
    const email = createEmailChannel({ env: { ...readEnv(), SMTP_URL: ctx.mail.url }, circuit: { failureThreshold: 2, cooldownMs: 60_000, now: () => now } });
    const state = async (): Promise<number[]> => (await ownMetrics()).series('tidings_circuit_breaker_state', { provider: 'smtp-primary' }).map((s) => s.value);
    const message = (i: number): OutboundMessage => ({ channel: 'email', eventId: `e-${i}`, userId: 'u-1', recipient: `breaker-${i}@example.com`, title: 'Hello', text: 'Hello', idempotencyKey: `k-${i}` });
    try {
      expect(await state()).toEqual([0]);
      // 421: the relay itself is closing, which counts against it.
      ctx.mail.refuse({ code: 421 });
      for (const i of [1, 2]) expect((await email.sendWithAttempts(message(i))).receipt).toBeUndefined();
      expect(await state()).toEqual([2]);

      ctx.mail.refuse(undefined);
      ctx.mail.slowDown(1_000);
      now += 60_000;
      // Nothing has called the provider since it opened: a scrape reads what the next call would find, the trial.
      expect(await state()).toEqual([1]);
      const trial = email.sendWithAttempts(message(3));
      await waitFor('the trial call to be under way', async () => (await state())[0] === 1, 10_000, 20);
      expect((await trial).receipt).toBeDefined();
      expect(await state()).toEqual([0]);
    } finally {
      await email.close();
    }
  });

  it('counts sends the per-user rate limit holds back, as suppressed deliveries without a provider', async () => {
    const consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('rate-limited'), rateLimits: { email: { max: 1, windowMs: 3_600_000 } } });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    try {
      const before = await ownMetrics();
      const events = Array.from({ length: 3 }, () => sampleEvent('SUBSCRIPTION_CREATED', { user_id: 'limited-user' }));
      for (const e of events) await publisher.publish('SUBSCRIPTION_CREATED', e);
      const ids = events.map((e) => e.event_id);
      await waitFor('every email to be settled', async () => (await ctx.db('delivery_ledger').whereIn('event_id', ids).where({ channel: 'email' }).whereIn('status', ['sent', 'suppressed'])).length === 3, 60_000);
      const limited = (await ctx.db('delivery_ledger').whereIn('event_id', ids).where({ channel: 'email', reason: 'rate_limited' })).length;
      expect(limited).toBe(2);
      const after = await ownMetrics();
      expect(after.sum('tidings_rate_limit_suppressed_total', { channel: 'email' }) - before.sum('tidings_rate_limit_suppressed_total', { channel: 'email' })).toBe(limited);
      expect(after.sum('tidings_deliveries_total', { channel: 'email', provider: 'none', status: 'suppressed' }) - before.sum('tidings_deliveries_total', { channel: 'email', provider: 'none', status: 'suppressed' })).toBe(limited);
      expect(after.sum('tidings_deliveries_total', { channel: 'email', provider: 'smtp-primary', status: 'sent' }) - before.sum('tidings_deliveries_total', { channel: 'email', provider: 'smtp-primary', status: 'sent' })).toBe(1);
    } finally {
      await publisher.disconnect();
      await consumer.stop();
    }
  }, 90_000);
});
