import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SecureKafka } from '../../src/dev/kafka-security';
import { stackHome } from '../../src/dev/paths';
import { ConfigError, KafkaAuthenticationError, KafkaAuthorizationError, PublishError } from '../../src/errors';
import { sampleEvent } from '../../src/events/samples';
import { Platform } from '../../src/platform';
import type { Publisher } from '../../src/producer/publisher';
import { startConsumerProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { freePort } from '../helpers/free-port';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/**
 * The broker `tidings dev up --secure` runs (SASL_SSL only, SCRAM users, ACLs), started by the
 * same code on free ports in a home of its own: the shared stack's broker is not touched. The
 * registry and PostgreSQL are the shared ones.
 */
describe('Kafka over SASL_SSL with ACLs', () => {
  let home: string;
  let secure: SecureKafka;
  let ctx: TestContext;
  const environment = { ...process.env };
  const opened: Array<{ close(): Promise<void> }> = [];

  /** A platform on the test's topics whose Kafka login is `user`'s, with `password` instead of the right one if given. */
  function platformAs(user: 'auth-producer' | 'payment-producer', password?: string): Platform {
    const security = secure.security(user);
    const platform = new Platform({
      endpoints: { ...ctx.platform.endpoints, kafkaSecurity: { ...security, sasl: { ...security.sasl!, password: password ?? security.sasl!.password } } },
      topics: ctx.topics,
      clientId: `test-${ctx.id}-${user}`,
    });
    opened.push(platform);
    return platform;
  }

  async function publisherAs(user: 'auth-producer' | 'payment-producer'): Promise<Publisher> {
    const publisher = platformAs(user).createPublisher();
    await publisher.connect();
    opened.push({ close: () => publisher.disconnect() });
    return publisher;
  }

  async function endOffsets(topic: string): Promise<string[]> {
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
    return offsets.sort((a, b) => a.partition - b.partition).map((o) => o.high);
  }

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-secure-kafka-'));
    // The jars' classpath is read from the shared stack's cache; nothing else of it is used.
    secure = new SecureKafka({ home, port: await freePort(), controllerPort: await freePort(), cacheHome: stackHome() });
    await secure.start();
    // The test context creates its topics as the admin, on this broker (process.env is this file's own copy).
    Object.assign(process.env, secure.env('admin'));
    ctx = await createTestContext();
    await secure.provision({ topics: ctx.topics, notificationGroupId: ctx.groupId('notification') }, []);
  }, 180_000);

  afterAll(async () => {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    await ctx?.dispose();
    await secure?.stop();
    process.env = environment;
    if (home) fs.rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it('carries an auth event from the auth producer to an email sent by the notification group, each logged in as itself', async () => {
    const publisher = await publisherAs('auth-producer');
    let worker: ConsumerProcess | undefined;
    try {
      const metricsPort = await freePort();
      worker = startConsumerProcess(ctx, { env: secure.env('notification'), metricsPort });
      const event = sampleEvent('USER_REGISTERED', { user_id: 'user-secure' });
      event.recipient = { ...event.recipient, email: 'secure-flow@example.com' };
      await publisher.publish('USER_REGISTERED', event);

      const mail = await Promise.race([
        ctx.mail.waitFor((all) => all.some((m) => m.to.includes('secure-flow@example.com')), 90_000),
        worker.exited.then(({ code, output }) => Promise.reject(new Error(`the notification worker exited (${code}):\n${output}`))),
      ]);
      expect(mail.find((m) => m.to.includes('secure-flow@example.com'))?.headers['x-tidings-event-type']).toBe('USER_REGISTERED');
      // As the notification user the worker created its own retry tiers and DLQs (the ACLs allow exactly those).
      const admin = ctx.platform.kafka.admin();
      await admin.connect();
      const topics = await admin.listTopics().finally(() => admin.disconnect());
      expect(topics).toEqual(expect.arrayContaining([`${ctx.topics.auth}.notification.retry.1`, `${ctx.topics.auth}.notification.dlq`, `${ctx.topics.payment}.notification.dlq`]));
      // Its readiness probe logs in like the worker does: ready over SASL_SSL, Kafka included.
      const ready = await waitFor('the secure worker to be ready', async () => {
        const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
        return response?.status === 200 ? ((await response.json()) as { checks: Record<string, { ok: boolean }> }) : undefined;
      }, 30_000);
      expect(ready.checks.kafka?.ok).toBe(true);
      expect(ready.checks.registry?.ok).toBe(true);
    } finally {
      worker?.child.kill('SIGTERM');
      await worker?.exited;
    }
  });

  it("refuses the auth producer's write to payment.events, naming the topic and the user, and lets the payment producer write it", async () => {
    const before = await endOffsets(ctx.topics.payment);
    const payment = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-secure-payment' });

    const refusal = await (await publisherAs('auth-producer')).publish('PAYMENT_SUCCEEDED', payment).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(PublishError);
    expect(refusal).toMatchObject({ retriable: false });
    const cause = (refusal as PublishError).cause;
    expect(cause).toBeInstanceOf(KafkaAuthorizationError);
    expect(cause).toMatchObject({ code: 'KAFKA_NOT_AUTHORIZED', retriable: false, topics: [ctx.topics.payment], principal: 'User:auth-producer' });
    expect((refusal as Error).message).toContain(`User:auth-producer is not authorized to write to ${ctx.topics.payment}`);
    expect(await endOffsets(ctx.topics.payment)).toEqual(before);

    const written = await (await publisherAs('payment-producer')).publish('PAYMENT_SUCCEEDED', payment);
    expect(written.topic).toBe(ctx.topics.payment);
    await waitFor('the payment event on the topic', async () => (await endOffsets(ctx.topics.payment)).some((high, i) => BigInt(high) > BigInt(before[i] ?? '0')));
  });

  it('refuses a wrong password at start-up with a message naming KAFKA_SASL_PASSWORD, in a publisher and in a worker', async () => {
    const wrong = 'not-the-password-0123';
    const publisher = platformAs('auth-producer', wrong).createPublisher();
    const failure = await publisher.connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(KafkaAuthenticationError);
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure).toMatchObject({ code: 'KAFKA_AUTHENTICATION_FAILED', retriable: false, username: 'auth-producer' });
    expect((failure as Error).message).toContain('KAFKA_SASL_PASSWORD');
    expect((failure as Error).message).not.toContain(wrong);

    const worker = startConsumerProcess(ctx, { env: { ...secure.env('notification'), KAFKA_SASL_PASSWORD: wrong } });
    const { code, output } = await worker.exited;
    expect(code).toBe(1);
    expect(output).toMatch(/tidings: Kafka \(.*\) refused the SCRAM-SHA-512 login of user "notification".*KAFKA_SASL_PASSWORD/);
    expect(output).not.toContain(wrong);
  });
});
