import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { SMTPServer } from 'smtp-server';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { sampleEvent } from '../../src/events/samples';
import type { EmailVerificationRequested, PaymentFailed, UserRegistered } from '../../src/events/generated';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { reminderDeliveryId } from '../../src/scheduler/delivery-id';
import { startTelemetry, type Telemetry } from '../../src/observability/telemetry-sdk';
import type { Publisher } from '../../src/producer/publisher';
import { startConsumerProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { freePort } from '../helpers/free-port';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { textsOf } from '../helpers/span-texts';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const INTERNAL = 1;
const PRODUCER = 4;
const CONSUMER = 5;
const CLIENT = 3;
const STATUS_ERROR = 2;
/** The SMTP server holds its 250 this long after it has a message, like a slow relay. */
const REPLY_DELAY_MS = 100;

/**
 * A real SMTP server that refuses the first attempts for chosen addresses (451, retriable) and
 * then accepts, answering 250 only REPLY_DELAY_MS after it has the whole message; it notes
 * when it had each one.
 */
class SmtpServerWithRefusals {
  readonly received: Array<{ to: string[]; at: number }> = [];
  private readonly refusalsLeft = new Map<string, number>();

  private constructor(private readonly server: SMTPServer) {}

  static async start(): Promise<SmtpServerWithRefusals> {
    let self: SmtpServerWithRefusals | undefined;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const left = self?.refusalsLeft.get(address.address) ?? 0;
        if (left === 0) return callback();
        self?.refusalsLeft.set(address.address, left - 1);
        callback(Object.assign(new Error(`mailbox ${address.address} busy, try again`), { responseCode: 451 }));
      },
      onData: (stream, session, callback) => {
        stream.resume();
        stream.on('end', () => {
          self?.received.push({ to: session.envelope.rcptTo.map((r) => r.address), at: Date.now() });
          setTimeout(() => callback(), REPLY_DELAY_MS);
        });
      },
    });
    server.on('error', () => undefined);
    self = new SmtpServerWithRefusals(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get url(): string {
    return `smtp://127.0.0.1:${(this.server.server.address() as AddressInfo).port}`;
  }

  refuseFirst(address: string, attempts: number): void {
    this.refusalsLeft.set(address, attempts);
  }

  async receivedFor(address: string, timeoutMs = 60_000): Promise<{ at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mail = this.received.find((m) => m.to.includes(address));
      if (mail) return mail;
      if (Date.now() > deadline) throw new Error(`no mail for ${address} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('OpenTelemetry traces from publish, across processes, to the SMTP server', () => {
  let ctx: TestContext;
  let receiver: OtlpReceiver;
  let smtp: SmtpServerWithRefusals;
  let telemetry: Telemetry;
  let publisher: Publisher;
  let worker: ConsumerProcess;

  beforeAll(async () => {
    [ctx, receiver, smtp] = await Promise.all([createTestContext(), OtlpReceiver.start(), SmtpServerWithRefusals.start()]);
    // This process plays the signup service: the SDK's publish, exported with a real OTLP exporter.
    telemetry = startTelemetry({ serviceName: 'signup-service', env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    // A separate `tidings run notification`, exporting to the same receiver (in batches every 100 ms).
    worker = startConsumerProcess(ctx, {
      retryDelays: '1s,1s',
      env: { SMTP_URL: smtp.url, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
  });

  afterAll(async () => {
    worker?.child.kill('SIGTERM');
    await worker?.exited;
    await publisher?.disconnect();
    await telemetry?.shutdown();
    await Promise.all([receiver?.close(), smtp?.close()]);
    await ctx?.dispose();
  });

  it("one trace goes from the caller's span and the SDK's send to the worker's process span, its in-app write and its SMTP send, which ends after the server accepted the mail", async () => {
    const email = 'trace-one@example.com';
    const event: UserRegistered = { ...sampleEvent('USER_REGISTERED', { user_id: 'user-traced-1' }), recipient: { ...sampleEvent('USER_REGISTERED').recipient, email } };
    // The caller's own span (its HTTP request, say): the publish is its child.
    const signup = await trace.getTracer('signup-service').startActiveSpan('POST /signup', async (span) => {
      await publisher.publish('USER_REGISTERED', event);
      span.end();
      return span.spanContext();
    });
    await telemetry.forceFlush();
    const mail = await smtp.receivedFor(email);

    const spans = await receiver.waitFor('the SMTP send span of the event', (all) => all.some((s) => s.traceId === signup.traceId && s.name === 'smtp send'));
    const inTrace = receiver.trace(signup.traceId);
    const send = inTrace.find((s) => s.name === `send ${ctx.topics.auth}`);
    expect(send).toMatchObject({ kind: PRODUCER, service: 'signup-service', parentSpanId: signup.spanId });
    expect(send?.attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.destination.name': ctx.topics.auth, 'messaging.message.id': event.event_id, 'messaging.operation.type': 'send' });

    const process = inTrace.find((s) => s.name === `process ${ctx.topics.auth}`);
    expect(process).toMatchObject({ kind: CONSUMER, service: 'tidings-notification', parentSpanId: send?.spanId });
    expect(process?.attributes).toMatchObject({
      'messaging.consumer.group.name': ctx.groupId('notification'),
      'messaging.destination.name': ctx.topics.auth,
      'messaging.message.id': event.event_id,
      'messaging.destination.partition.id': expect.any(String),
      'messaging.kafka.offset': expect.any(Number),
    });

    const smtpSend = inTrace.find((s) => s.name === 'smtp send');
    expect(smtpSend).toMatchObject({ kind: CLIENT, service: 'tidings-notification', parentSpanId: process?.spanId });
    expect(smtpSend?.attributes).toMatchObject({ 'tidings.provider': 'smtp-primary', 'tidings.smtp.response_code': 250, 'tidings.provider.message_id': expect.stringContaining(event.event_id) });
    // The send lasted until the server's (delayed) 250: it ended after the server had the mail.
    expect(smtpSend!.endNs).toBeGreaterThanOrEqual(BigInt(mail.at) * 1_000_000n);
    expect(smtpSend!.endNs - smtpSend!.startNs).toBeGreaterThanOrEqual(BigInt(REPLY_DELAY_MS) * 1_000_000n);

    const inApp = inTrace.find((s) => s.name === 'in_app write');
    expect(inApp).toMatchObject({ kind: CLIENT, parentSpanId: process?.spanId });

    // Neither the address nor the message key (the user id) is in any span of any process.
    for (const span of spans) {
      for (const text of textsOf(span)) {
        expect([span.name, text.includes(email) || text.includes(event.user_id)]).toEqual([span.name, false]);
      }
    }
  });

  it('a retried event: the trace shows the source attempt and each retry tier in turn, the retries linked to the first attempt, the failures without the address', async () => {
    const email = 'trace-retry@example.com';
    smtp.refuseFirst(email, 2);
    const event: EmailVerificationRequested = {
      ...sampleEvent('EMAIL_VERIFICATION_REQUESTED', { user_id: 'user-traced-2' }),
      recipient: { ...sampleEvent('EMAIL_VERIFICATION_REQUESTED').recipient, email },
    };
    await publisher.publish('EMAIL_VERIFICATION_REQUESTED', event);
    await telemetry.forceFlush();
    await smtp.receivedFor(email);

    const tier = (n: number): string => `${ctx.topics.auth}.notification.retry.${n}`;
    const send = (await receiver.waitFor('the send span', (all) => all.some((s) => s.kind === PRODUCER && s.attributes['messaging.message.id'] === event.event_id))).find(
      (s) => s.kind === PRODUCER && s.attributes['messaging.message.id'] === event.event_id,
    )!;
    await receiver.waitFor('the successful SMTP send of the last tier', () => receiver.trace(send.traceId).filter((s) => s.name === 'smtp send').length === 3);
    const inTrace = receiver.trace(send.traceId);
    const processOf = (topic: string): ReceivedSpan | undefined => inTrace.find((s) => s.name === `process ${topic}`);
    const [source, first, second] = [processOf(ctx.topics.auth), processOf(tier(1)), processOf(tier(2))];

    // Each attempt is the child of the one before it, in the same trace.
    expect(source?.parentSpanId).toBe(send.spanId);
    expect(first?.parentSpanId).toBe(source?.spanId);
    expect(second?.parentSpanId).toBe(first?.spanId);
    expect([source, first, second].map((s) => s?.attributes['tidings.attempt'])).toEqual([1, 2, 3]);
    // The retries link to the first attempt.
    for (const retry of [first, second]) expect(retry?.links).toEqual([{ traceId: send.traceId, spanId: source!.spanId, attributes: { 'tidings.link': 'first_attempt' } }]);
    // The failed attempts say so, and why, with the refused address masked.
    for (const failed of [source, first]) {
      expect(failed?.status.code).toBe(STATUS_ERROR);
      expect(failed?.attributes['tidings.outcome']).toBe('retry');
      expect(failed?.status.message).toMatch(/451/);
    }
    expect(second?.status.code).not.toBe(STATUS_ERROR);
    const smtpSends = inTrace.filter((s) => s.name === 'smtp send').sort((a, b) => Number(a.startNs - b.startNs));
    expect(smtpSends.map((s) => s.parentSpanId)).toEqual([source?.spanId, first?.spanId, second?.spanId]);
    expect(smtpSends.map((s) => s.attributes['tidings.smtp.response_code'])).toEqual([451, 451, 250]);
    expect(smtpSends[0]?.status.message).toContain('***@example.com');

    // The record in the first tier carries the failed attempt's context and the first one's.
    const [tierRecord] = await readTopic(ctx.platform.kafka, tier(1));
    expect(tierRecord?.headers.traceparent).toBe(`00-${send.traceId}-${source?.spanId}-01`);
    expect(tierRecord?.headers[FAILURE_HEADERS.firstAttemptTraceparent]).toBe(`00-${send.traceId}-${source?.spanId}-01`);

    for (const span of inTrace) for (const text of textsOf(span)) expect([span.name, text.includes(email) || text.includes(event.user_id)]).toEqual([span.name, false]);
  });

  it('an event enqueued in the outbox inside a span: the relay publishes it as a child of that span, and the worker continues the trace', async () => {
    const email = 'trace-outbox@example.com';
    const event: PaymentFailed = { ...sampleEvent('PAYMENT_FAILED', { user_id: 'user-traced-3' }), recipient: { ...sampleEvent('PAYMENT_FAILED').recipient, email } };
    const outbox = ctx.platform.createOutbox();
    const checkout = await trace.getTracer('signup-service').startActiveSpan('POST /checkout', async (span) => {
      await ctx.db.transaction((trx) => outbox.enqueue(trx, 'PAYMENT_FAILED', event));
      span.end();
      return span.spanContext();
    });
    // The relay runs later, outside any span: the trace context travels in the row.
    const relay = new OutboxRelay({ kafka: ctx.platform.kafka, db: ctx.db, databaseUrl: ctx.databaseUrl, registry: ctx.platform.registry });
    await relay.start();
    try {
      await smtp.receivedFor(email);
    } finally {
      await relay.stop();
    }
    await telemetry.forceFlush();

    await receiver.waitFor('the SMTP send of the outbox event', () => receiver.trace(checkout.traceId).some((s) => s.name === 'smtp send'));
    const inTrace = receiver.trace(checkout.traceId);
    const send = inTrace.find((s) => s.name === `send ${ctx.topics.payment}`);
    expect(send).toMatchObject({ kind: PRODUCER, parentSpanId: checkout.spanId, attributes: expect.objectContaining({ 'messaging.message.id': event.event_id }) });
    const process = inTrace.find((s) => s.name === `process ${ctx.topics.payment}`);
    expect(process).toMatchObject({ service: 'tidings-notification', parentSpanId: send?.spanId });
    expect(inTrace.find((s) => s.name === 'smtp send')?.parentSpanId).toBe(process?.spanId);
    for (const span of inTrace) for (const text of textsOf(span)) expect([span.name, text.includes(email) || text.includes(event.user_id)]).toEqual([span.name, false]);
  });
});

describe('a scheduled email from a real `tidings run scheduler`: a trace of its own', () => {
  let ctx: TestContext;
  let receiver: OtlpReceiver;
  let worker: ConsumerProcess;

  beforeAll(async () => {
    [ctx, receiver] = await Promise.all([createTestContext(), OtlpReceiver.start()]);
    const port = await freePort();
    worker = startConsumerProcess(ctx, { group: 'scheduler', metricsPort: port, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' } });
    await Promise.race([
      waitFor('the scheduler to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000, 200),
      worker.exited.then(({ code, output }) => Promise.reject(new Error(`the scheduler exited (${code}):\n${output}`))),
    ]);
  }, 90_000);

  afterAll(async () => {
    worker?.child.kill('SIGTERM');
    await worker?.exited;
    await receiver?.close();
    await ctx?.dispose();
  });

  it("a reminder's send is the root of a new trace with its SMTP call as a child, apart from the trace of the event that scheduled it; nothing personal in either", async () => {
    const email = 'reminded-traced@example.com';
    // Renews tomorrow: the reminder (3 days ahead) is due as soon as the event is applied.
    const event = sampleEvent('SUBSCRIPTION_CREATED', {
      user_id: 'user-traced-4',
      subscription_id: 'sub-traced-4',
      occurred_at: Date.now(),
      recipient: { email, name: 'Grace Hopper', phone: null, locale: 'en-US', time_zone: 'America/New_York' },
      trial_ends_at: null,
      renews_at: Date.now() + 86_400_000,
    });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    try {
      await publisher.publish('SUBSCRIPTION_CREATED', event);
    } finally {
      await publisher.disconnect();
    }
    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(email)), 60_000);
    const reminder = await ctx.db('renewal_reminders').where({ subscription_id: event.subscription_id }).first<{ id: string }>('id');

    const spans = await receiver.waitFor('the scheduled send, its SMTP call and the event\'s process span', (all) =>
      ['scheduled send', 'smtp send', `process ${ctx.topics.payment}`].every((name) => all.some((s) => s.name === name)),
    );
    const send = spans.find((s) => s.name === 'scheduled send');
    expect(send).toMatchObject({ kind: INTERNAL, parentSpanId: '', service: 'tidings-scheduler' });
    expect(send?.attributes).toEqual({
      'messaging.message.id': reminderDeliveryId(String(reminder.id)),
      'tidings.event.type': 'RENEWAL_REMINDER',
      'tidings.channel': 'email',
      'tidings.attempt': 1,
    });
    expect(receiver.trace(send!.traceId).filter((s) => s.spanId !== send!.spanId)).toEqual([
      expect.objectContaining({ name: 'smtp send', kind: CLIENT, parentSpanId: send!.spanId, attributes: expect.objectContaining({ 'tidings.provider': 'smtp-primary', 'tidings.smtp.response_code': 250 }) }),
    ]);
    // The event's own trace (from the publish's traceparent) has the scheduler's process span, not the send.
    const [record] = await readTopic(ctx.platform.kafka, ctx.topics.payment);
    const process = spans.find((s) => s.name === `process ${ctx.topics.payment}`);
    expect(process).toMatchObject({ service: 'tidings-scheduler', traceId: record?.headers.traceparent?.split('-')[1], attributes: expect.objectContaining({ 'messaging.message.id': event.event_id }) });
    expect(process?.traceId).not.toBe(send?.traceId);

    for (const span of spans) {
      for (const text of textsOf(span)) expect([span.name, [email, 'Grace Hopper', event.user_id].some((p) => text.includes(p))]).toEqual([span.name, false]);
    }
  }, 120_000);
});
