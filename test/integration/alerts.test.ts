import { dlqTopic } from '../../src/consumer/retry-topology';
import type { EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { startConsumerProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { freePort } from '../helpers/free-port';
import { PrometheusServer, type ActiveAlert, type LoadedRule } from '../helpers/prometheus-server';
import { TcpProxy } from '../helpers/tcp-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/** Ends a worker started by the test and waits for it (SIGKILL if it does not stop in time). */
async function stop(worker: ConsumerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 20_000);
  await worker.exited;
  clearTimeout(timer);
}

/** `event` addressed to `email`, for an event type whose recipient has an email. */
function to<T extends EventType>(type: T, email: string, userId: string): EventMap[T] {
  const event = sampleEvent(type, { user_id: userId } as Partial<EventMap[T]>) as EventMap[T] & { recipient: { email: string } };
  return { ...event, recipient: { ...event.recipient, email } };
}

/**
 * The alert rules the repository ships (deploy/prometheus/tidings-alerts.yml, loaded as they
 * are), evaluated by a real Prometheus that scrapes real `tidings run notification
 * --metrics-port` workers every second. Each case drives the real condition (a database cut
 * off, a mailbox refusing, a slow SMTP relay, records that are not Avro) and sees the alert's
 * expression cross its threshold: the alert turns pending (or firing, for the DLQ rule, which
 * has no `for`). How long each must hold before it fires is the promtool unit tests' job.
 */
describe('the shipped alert rules in a real Prometheus, against real workers', () => {
  let prometheus: PrometheusServer;
  // One worker for the delivery cases; one whose PostgreSQL goes through a proxy, for the stopped case.
  let ctx: TestContext;
  let worker: ConsumerProcess | undefined;
  let stuckCtx: TestContext;
  let stuckWorker: ConsumerProcess | undefined;
  let database: TcpProxy;
  const group = (): string => ctx.groupId('notification');
  const stuckGroup = (): string => stuckCtx.groupId('notification');
  const authDlq = (): string => dlqTopic({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] }, ctx.topics.auth);

  const active = async (alertname: string, labels: Record<string, string> = {}): Promise<ActiveAlert | undefined> =>
    (await prometheus.alerts()).find((a) => a.labels.alertname === alertname && Object.entries(labels).every(([k, v]) => a.labels[k] === v));
  const waitForAlert = (alertname: string, labels: Record<string, string>, accept: (alert: ActiveAlert) => boolean = () => true): Promise<ActiveAlert> =>
    waitFor(`${alertname} ${JSON.stringify(labels)} to be active`, async () => {
      const alert = await active(alertname, labels);
      return alert && accept(alert) ? alert : undefined;
    }, 60_000, 250);
  /** The value of a PromQL expression that yields one number (e.g. a `sum`); undefined when it yields nothing. */
  const value = async (expr: string): Promise<number | undefined> => (await prometheus.query(expr))[0]?.value;
  const waitForValue = (expr: string, accept: (v: number) => boolean, timeoutMs = 60_000): Promise<number> =>
    waitFor(`${expr} to be as expected`, async () => {
      const v = await value(expr);
      return v !== undefined && accept(v) ? { v } : undefined;
    }, timeoutMs, 250).then(({ v }) => v);

  /**
   * The payment SLA rule's two conditions as Prometheus loaded them from the shipped file (its
   * `query`, `<p99> > <budget> and on (channel) <volume>`): the p99 and the budget it is held
   * to, and the volume condition (enough payments in 5 minutes to judge).
   */
  const slaConditions = async (): Promise<{ p99: string; budget: number; volume: string }> => {
    // GET /api/v1/rules states each rule's `query`; LoadedRule leaves it out.
    const rule = (await prometheus.rules()).find((r) => r.name === 'TidingsPaymentNotificationSlaBreach') as (LoadedRule & { query?: string }) | undefined;
    const [over, volume] = rule?.query?.split(' and on (channel) ') ?? [];
    const p99 = /^(.+) > ([0-9.]+)$/.exec(over ?? '');
    if (!p99?.[1] || !volume) throw new Error(`the SLA rule is not "<p99> > <budget> and on (channel) <volume>": ${rule?.query}`);
    return { p99: p99[1], budget: Number(p99[2]), volume };
  };

  beforeAll(async () => {
    [ctx, stuckCtx] = await Promise.all([createTestContext(), createTestContext()]);
    const db = new URL(stuckCtx.databaseUrl);
    database = await TcpProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
    const [port1, port2] = [await freePort(), await freePort()];
    // Lag is read every half second instead of every 15 s. Retried records wait 10 minutes in
    // their first tier: longer than the test, so they hold lag in the retry group and never
    // reach the DLQ.
    const env = { TIDINGS_LAG_METRICS_INTERVAL: '500ms' };
    worker = startConsumerProcess(ctx, { metricsPort: port1, retryDelays: '10m', env });
    stuckWorker = startConsumerProcess(stuckCtx, { metricsPort: port2, env: { ...env, DATABASE_URL: database.via(stuckCtx.databaseUrl) } });
    prometheus = await PrometheusServer.start({ jobs: { 'tidings-workers': [`127.0.0.1:${port1}`, `127.0.0.1:${port2}`] } });
    for (const [p, w] of [[port1, worker], [port2, stuckWorker]] as const) {
      await Promise.race([
        waitFor(`the worker on ${p} to be ready`, async () => (await fetch(`http://127.0.0.1:${p}/readyz`)).status === 200, 60_000, 200),
        w.exited.then(({ code, output }) => Promise.reject(new Error(`the worker on ${p} exited (${code}):\n${output}`))),
      ]);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all([stop(worker), stop(stuckWorker)]);
    await prometheus?.close();
    await database?.close();
    await Promise.all([ctx?.dispose(), stuckCtx?.dispose()]);
  });

  it('Prometheus loads the shipped rules: five alerts, each with a severity, a summary, a description and a runbook', async () => {
    const rules = await prometheus.rules();
    expect(rules.map((r) => [r.name, r.type, r.duration, r.labels?.severity])).toEqual([
      ['TidingsConsumerLagHigh', 'alerting', 600, 'ticket'],
      ['TidingsProcessingStopped', 'alerting', 300, 'page'],
      ['TidingsHighFailureRate', 'alerting', 300, 'page'],
      ['TidingsPaymentNotificationSlaBreach', 'alerting', 300, 'page'],
      ['TidingsDeadLetterQueueGrowing', 'alerting', 0, 'ticket'],
    ]);
    for (const rule of rules) {
      expect([rule.name, Object.keys(rule.annotations ?? {}).sort()]).toEqual([rule.name, ['description', 'runbook_url', 'summary']]);
      expect(rule.annotations?.runbook_url).toBe(`README.md#${rule.name.toLowerCase()}`);
    }
  });

  it('healthy workers that have delivered payments and resets raise no alert', async () => {
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    try {
      // A worker's first delivery is slow (connections, schemas, templates: 0.7 s here): warm
      // it up with a password reset, so the payment latency series starts with a fast one.
      await publisher.publish('PASSWORD_RESET_REQUESTED', to('PASSWORD_RESET_REQUESTED', 'warm-up@example.com', 'warm-up'));
      await ctx.mail.waitFor((all) => all.length === 1, 60_000);
      // Then payments as they come in a quiet hour, one after the other: more than the SLA
      // rule's minimum of 10 in 5 minutes, so its quantile is what keeps it quiet. increase()
      // counts from a series' first sample, and a series is created by its first payment: the
      // first two are scraped before the other 12 come, so those 12 are all in the increase.
      const pay = async (i: number): Promise<void> => {
        await publisher.publish('PAYMENT_SUCCEEDED', to('PAYMENT_SUCCEEDED', `payer-${i}@example.com`, `payer-${i}`));
        await ctx.mail.waitFor((all) => all.length === 2 + i, 60_000);
      };
      for (const i of [0, 1]) await pay(i);
      await waitForValue(`sum(tidings_delivery_latency_seconds_count{category="payment"})`, (v) => v === 2);
      for (let i = 2; i < 14; i++) await pay(i);
      const resets = Array.from({ length: 3 }, (_, i) => to('PASSWORD_RESET_REQUESTED', `reset-${i}@example.com`, `resetter-${i}`));
      await Promise.all(resets.map((e) => publisher.publish('PASSWORD_RESET_REQUESTED', e)));
      await ctx.mail.waitFor((all) => all.length === 18, 60_000);
    } finally {
      await publisher.disconnect();
    }
    // What the rules read, as Prometheus has scraped it: everything committed, no lag; the
    // stuck-to-be worker idle with its counter at 0; the DLQ gauge there at 0 (a DLQ series
    // that first appears with records in it would hide them from "growing").
    await waitForValue(`sum(tidings_consumer_committed_records_total{consumergroup="${group()}"})`, (v) => v === 18);
    await waitForValue(`sum(kafka_consumergroup_lag{consumergroup="${group()}"})`, (v) => v === 0);
    await waitForValue(`sum(tidings_delivery_latency_seconds_count{category="payment"})`, (v) => v === 14);
    // The SLA rule's volume condition holds for email, as the loaded rule states it: enough
    // payments to judge, so "no alert" means the p99 was within the budget, which it was.
    const sla = await slaConditions();
    await waitFor('the SLA rule to see enough payment emails to judge', async () => (await prometheus.query(sla.volume)).some((s) => s.metric.channel === 'email'), 60_000, 250);
    const p99 = (await prometheus.query(sla.p99)).find((s) => s.metric.channel === 'email')?.value;
    expect(p99).toBeLessThanOrEqual(sla.budget);
    await waitForValue(`sum(tidings_consumer_committed_records_total{consumergroup="${stuckGroup()}"})`, (v) => v === 0);
    await waitForValue(`count(kafka_consumergroup_lag{consumergroup="${stuckGroup()}"})`, (v) => v === 6);
    await waitForValue(`max(tidings_dlq_messages{topic="${authDlq()}"})`, (v) => v === 0);
    await prometheus.nextEvaluation();
    expect(await prometheus.alerts()).toEqual([]);
  });

  it('a worker cut off from PostgreSQL while 1,100 records arrive: consumer lag high and processing stopped go pending, and clear once it is back', async () => {
    database.cut();
    const publisher = stuckCtx.platform.createPublisher();
    await publisher.connect();
    try {
      const events = Array.from({ length: 1_100 }, (_, i) => to('PASSWORD_RESET_REQUESTED', `flood-${i}@example.com`, `flooded-${i}`));
      await Promise.all(events.map((e) => publisher.publish('PASSWORD_RESET_REQUESTED', e)));
    } finally {
      await publisher.disconnect();
    }
    const lagHigh = await waitForAlert('TidingsConsumerLagHigh', { consumergroup: stuckGroup() }, (a) => Number(a.value) === 1_100);
    const stopped = await waitForAlert('TidingsProcessingStopped', { consumergroup: stuckGroup() }, (a) => Number(a.value) === 1_100);
    expect([lagHigh.state, lagHigh.labels.severity, stopped.state, stopped.labels.severity]).toEqual(['pending', 'ticket', 'pending', 'page']);
    expect(stopped.annotations.summary).toBe(`Consumer group ${stuckGroup()} has stopped processing (1.1k records waiting)`);
    expect(await value(`sum(tidings_consumer_committed_records_total{consumergroup="${stuckGroup()}"})`)).toBe(0);
    // The other worker is healthy: nothing about it.
    expect(await active('TidingsProcessingStopped', { consumergroup: group() })).toBeUndefined();

    database.restore();
    await waitForValue(`sum(kafka_consumergroup_lag{consumergroup="${stuckGroup()}"})`, (v) => v === 0, 90_000);
    await prometheus.nextEvaluation();
    expect(await active('TidingsConsumerLagHigh', { consumergroup: stuckGroup() })).toBeUndefined();
    expect(await active('TidingsProcessingStopped', { consumergroup: stuckGroup() })).toBeUndefined();
    expect(await value(`sum(tidings_consumer_committed_records_total{consumergroup="${stuckGroup()}"})`)).toBe(1_100);
  }, 120_000);

  it('a mailbox provider refusing mail (451): the failure rate goes over 10% and high failure rate goes pending; the retry group\'s waiting records are no stopped group', async () => {
    const failing = Array.from({ length: 60 }, (_, i) => `refused-${i}@example.com`);
    ctx.mail.refuse({ code: 451, recipients: failing });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    try {
      const events = failing.map((email, i) => to('PASSWORD_RESET_REQUESTED', email, `refused-${i}`));
      // A counter series' first sample has no rate: the first failures create the series, the
      // rest make its rate, as in a real outage that goes on.
      await Promise.all(events.slice(0, 10).map((e) => publisher.publish('PASSWORD_RESET_REQUESTED', e)));
      await waitForValue(`sum(tidings_events_failed_total{consumergroup="${group()}"})`, (v) => v === 10);
      await Promise.all(events.slice(10).map((e) => publisher.publish('PASSWORD_RESET_REQUESTED', e)));
      await waitForValue(`sum(tidings_events_failed_total{consumergroup="${group()}"})`, (v) => v === 60);
    } finally {
      await publisher.disconnect();
      ctx.mail.refuse(undefined);
    }
    const alert = await waitForAlert('TidingsHighFailureRate', { consumergroup: group() });
    expect([alert.state, alert.labels.severity, Number(alert.value)]).toEqual(['pending', 'page', expect.any(Number)]);
    expect(Number(alert.value)).toBeGreaterThan(0.1);

    // The 60 records wait 10 minutes in the first retry tier: lag in the retry group, and no commit there.
    await waitForValue(`sum(kafka_consumergroup_lag{consumergroup="${group()}.retry"})`, (v) => v === 60);
    expect(await value(`sum(rate(tidings_consumer_committed_records_total{consumergroup="${group()}.retry"}[5m]))`)).toBe(0);
    await prometheus.nextEvaluation();
    expect(await active('TidingsProcessingStopped', { consumergroup: `${group()}.retry` })).toBeUndefined();
    expect(await active('TidingsHighFailureRate', { consumergroup: `${group()}.retry` })).toBeUndefined();
  }, 120_000);

  it('an SMTP relay that takes 0.7 s to accept: payment notifications\' p99 goes over 0.5 s and the SLA breach goes pending', async () => {
    ctx.mail.slowDown(700);
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    try {
      const before = ctx.mail.messages.length;
      const payments = Array.from({ length: 15 }, (_, i) => to('PAYMENT_SUCCEEDED', `slow-payer-${i}@example.com`, `slow-payer-${i}`));
      await Promise.all(payments.map((e) => publisher.publish('PAYMENT_SUCCEEDED', e)));
      await ctx.mail.waitFor((all) => all.length === before + 15, 60_000);
    } finally {
      await publisher.disconnect();
      ctx.mail.slowDown(0);
    }
    const alert = await waitForAlert('TidingsPaymentNotificationSlaBreach', { channel: 'email' });
    expect([alert.state, alert.labels.severity]).toEqual(['pending', 'page']);
    expect(Number(alert.value)).toBeGreaterThan(0.5);
  }, 120_000);

  it('records that are not Avro go to the DLQ: DLQ growing fires (it has no `for`) with the number that arrived', async () => {
    const raw = ctx.platform.kafka.producer();
    await raw.connect();
    try {
      await raw.send({ topic: ctx.topics.auth, messages: Array.from({ length: 3 }, (_, i) => ({ key: `garbage-${i}`, value: Buffer.from(`not avro ${i}`) })) });
    } finally {
      await raw.disconnect();
    }
    const alert = await waitForAlert('TidingsDeadLetterQueueGrowing', { topic: authDlq() }, (a) => Number(a.value) === 3);
    expect([alert.state, alert.labels.severity, alert.annotations.summary]).toEqual(['firing', 'ticket', `Dead letters are arriving in ${authDlq()} (+3 in 15 minutes)`]);
  }, 120_000);
});
