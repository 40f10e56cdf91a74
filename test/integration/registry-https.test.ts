import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { readEnv, resolveEndpoints } from '../../src/config/env';
import { ensureLocalCertificates } from '../../src/dev/local-certificates';
import { sampleEvent } from '../../src/events/samples';
import { Platform } from '../../src/platform';
import { EventRegistry } from '../../src/registry/event-registry';
import { RegistryAuthError, RegistryRequestError } from '../../src/registry/registry-http';
import { startHttpsRegistryProxy, type HttpsRegistryProxy } from '../helpers/https-registry-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';

/**
 * The registry over HTTPS with credentials: an HTTPS proxy with a certificate from a CA made for
 * the test, demanding basic auth or a bearer token, in front of the shared registry.
 */
describe('schema registry over HTTPS with credentials', () => {
  let ctx: TestContext;
  let proxy: HttpsRegistryProxy;
  let dir: string;
  const basic = { username: 'tidings', password: 'registry-password-1' };
  const token = 'registry-token-1';
  const fast = { maxAttempts: 3, initialMs: 20, maxMs: 50 };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-registry-https-'));
    ctx = await createTestContext();
    proxy = await startHttpsRegistryProxy({ target: ctx.platform.endpoints.schemaRegistryUrl, dir: path.join(dir, 'proxy'), accept: { basic, token } });
  });

  afterAll(async () => {
    await proxy?.close();
    await ctx?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Failure of `work`, which must fail. */
  const failureOf = (work: Promise<unknown>): Promise<unknown> =>
    work.then(
      () => {
        throw new Error('succeeded');
      },
      (error: unknown) => error,
    );

  it('publishes and consumes with the registry at an https:// URL, basic auth and a CA file set in the environment', async () => {
    const env = readEnv({
      ...process.env,
      DATABASE_URL: ctx.databaseUrl,
      SMTP_URL: ctx.mail.url,
      SCHEMA_REGISTRY_URL: proxy.url,
      SCHEMA_REGISTRY_USERNAME: basic.username,
      SCHEMA_REGISTRY_PASSWORD: basic.password,
      SCHEMA_REGISTRY_CA_FILE: proxy.caFile,
    });
    const platform = new Platform({ endpoints: resolveEndpoints(env), topics: ctx.topics, clientId: `test-${ctx.id}-https` });
    const publisher = platform.createPublisher();
    let consumer: NotificationConsumer | undefined;
    try {
      await publisher.connect();
      consumer = await startNotificationConsumer(platform, { groupId: ctx.groupId('notification-https') });
      const event = sampleEvent('PAYMENT_FAILED', { user_id: 'user-https' });
      event.recipient = { ...event.recipient, email: 'https-registry@example.com' };
      await publisher.publish('PAYMENT_FAILED', event);
      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('https-registry@example.com')), 60_000);
    } finally {
      await consumer?.stop();
      await publisher.disconnect();
      await platform.close();
    }
    // Both the publisher's look-up and the consumer's read of the writer schema went through the proxy, authorized.
    expect(proxy.requests.some((r) => r.method === 'POST' && r.path.includes('/subjects/') && r.authorized)).toBe(true);
    expect(proxy.requests.some((r) => r.method === 'GET' && r.path.includes('/schemas/ids/') && r.authorized)).toBe(true);
    expect(proxy.requests.every((r) => r.authorized)).toBe(true);
  });

  it('sends a bearer token', async () => {
    const registry = new EventRegistry({ url: proxy.url, credentials: { token }, caFile: proxy.caFile });
    expect(await registry.schemaId('USER_REGISTERED', ctx.topics.auth)).toBe(await ctx.platform.registry.schemaId('USER_REGISTERED', ctx.topics.auth));
  });

  it.each([
    ['a wrong password', { username: basic.username, password: 'wrong-password' }, /refused the password of user "tidings": check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD/],
    ['a wrong token', { token: 'wrong-token' }, /refused the bearer token: check SCHEMA_REGISTRY_TOKEN/],
    ['no credentials', undefined, /requires credentials: set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, or SCHEMA_REGISTRY_TOKEN/],
  ])('refuses %s at once with a non-retriable error naming the setting', async (_what, credentials, message) => {
    const before = proxy.requests.length;
    const registry = new EventRegistry({ url: proxy.url, credentials, caFile: proxy.caFile, retry: fast });
    const error = await failureOf(registry.schemaId('PAYMENT_SUCCEEDED', ctx.topics.payment));
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(error).toMatchObject({ code: 'REGISTRY_UNAUTHORIZED', status: 401, retriable: false });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toMatch(/wrong-password|wrong-token/);
    // Not retried: the same credentials cannot succeed.
    expect(proxy.requests.length - before).toBe(1);
  });

  it('fails a publish with a wrong registry password, naming the setting, before anything is sent', async () => {
    const endOffsets = async (): Promise<string[]> => {
      const admin = ctx.platform.kafka.admin();
      await admin.connect();
      return (await admin.fetchTopicOffsets(ctx.topics.auth).finally(() => admin.disconnect())).map((o) => `${o.partition}:${o.high}`).sort();
    };
    const before = await endOffsets();
    const platform = new Platform({
      endpoints: { ...ctx.platform.endpoints, schemaRegistryUrl: proxy.url, schemaRegistryCredentials: { ...basic, password: 'wrong-password' }, schemaRegistryCaFile: proxy.caFile },
      topics: ctx.topics,
      clientId: `test-${ctx.id}-https-wrong`,
    });
    const publisher = platform.createPublisher();
    await publisher.connect();
    try {
      const error = await failureOf(publisher.publish('USER_REGISTERED', sampleEvent('USER_REGISTERED', { user_id: 'user-https-wrong' })));
      expect(error).toBeInstanceOf(RegistryAuthError);
      expect(error).toMatchObject({ retriable: false });
      expect((error as Error).message).toContain('SCHEMA_REGISTRY_PASSWORD');
      await publisher.flush();
      expect(await endOffsets()).toEqual(before);
    } finally {
      await publisher.disconnect();
      await platform.close();
    }
  });

  it('refuses a certificate it cannot trust with an error naming SCHEMA_REGISTRY_CA_FILE, not retried', async () => {
    // Node's bundled CAs do not know the proxy's.
    const unknownCa = await failureOf(new EventRegistry({ url: proxy.url, credentials: basic, retry: fast }).schemaId('USER_REGISTERED', ctx.topics.auth));
    expect(unknownCa).toBeInstanceOf(RegistryRequestError);
    expect(unknownCa).toMatchObject({ retriable: false, status: undefined });
    expect((unknownCa as Error).message).toMatch(/TLS certificate is not trusted \(\w+\): set SCHEMA_REGISTRY_CA_FILE to the PEM of the CA that signed it/);

    const otherCa = ensureLocalCertificates(path.join(dir, 'other'), 'other').caFile;
    const before = proxy.requests.length;
    const wrongCa = await failureOf(new EventRegistry({ url: proxy.url, credentials: basic, caFile: otherCa, retry: fast }).schemaId('USER_REGISTERED', ctx.topics.auth));
    expect(wrongCa).toMatchObject({ retriable: false });
    expect((wrongCa as Error).message).toMatch(/not signed by the CA in SCHEMA_REGISTRY_CA_FILE/);
    // The credentials never reached a server the client does not trust.
    expect(proxy.requests.length).toBe(before);
  });
});
