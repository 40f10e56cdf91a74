import vm from 'node:vm';
import { readEnv } from '../../src/config/env';
import { AllProvidersFailedError, ProviderError, RecipientUnreachableError } from '../../src/errors';
import type { OutboundMessage } from '../../src/notifications/channels/channel';
import { DeviceTokens } from '../../src/notifications/providers/device-tokens';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { FcmPushProvider } from '../../src/notifications/providers/fcm-push';
import { createProvidersFromEnv } from '../../src/notifications/providers/providers-from-env';
import { createLogger } from '../../src/observability/logger';
import { LocalFcm } from '../../src/dev/local-fcm';
import { createTestContext, type TestContext } from '../helpers/test-context';

// google-auth-library (under firebase-admin) loads node-fetch with import(), which Jest's
// module sandbox only allows with this Node flag. Fail loudly rather than skip.
const vmModules = typeof (vm as { SyntheticModule?: unknown }).SyntheticModule === 'function';

let seq = 0;
function push(token: string, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  seq += 1;
  return {
    channel: 'push',
    eventId: `00000000-0000-4000-9000-${String(seq).padStart(12, '0')}`,
    userId: 'user-42',
    recipient: token,
    title: 'Payment received',
    text: `Your payment #${seq} went through.`,
    data: { paymentId: `pay_${seq}`, link: 'tidings://payments' },
    idempotencyKey: `evt-${seq}.push`,
    ...overrides,
  };
}

describe('push through firebase-admin (FCM v1) against a local OAuth + FCM endpoint', () => {
  let ctx: TestContext;
  let fcmA: LocalFcm;
  let fcmB: LocalFcm;
  let tokens: DeviceTokens;
  const providers: FcmPushProvider[] = [];
  const quiet = createLogger('test', 'silent');

  function fcm(fake: LocalFcm, name: string): FcmPushProvider {
    const provider = new FcmPushProvider({ name, serviceAccount: fake.serviceAccount, baseUrl: fake.url });
    providers.push(provider);
    return provider;
  }

  beforeAll(async () => {
    if (!vmModules) throw new Error('run Jest with NODE_OPTIONS=--experimental-vm-modules: firebase-admin\'s OAuth client uses import()');
    ctx = await createTestContext({ partitions: 1 });
    tokens = new DeviceTokens(ctx.db);
    [fcmA, fcmB] = await Promise.all([LocalFcm.start(), LocalFcm.start()]);
  });

  afterEach(() => {
    fcmA?.fail(undefined);
    fcmB?.fail(undefined);
  });

  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await fcmA?.close();
    await fcmB?.close();
    await ctx?.dispose();
  });

  it('exchanges a signed JWT for an access token, then sends title, body and data with that token', async () => {
    const provider = fcm(fcmA, 'fcm-a');
    const msg = push('device-token-1');

    const receipt = await provider.send(msg);
    await provider.send(push('device-token-1'));

    // One exchange serves both sends: the SDK caches the token until it nears expiry.
    expect(fcmA.tokenGrants).toHaveLength(1);
    const [grant] = fcmA.tokenGrants;
    expect(grant?.claims).toMatchObject({ iss: fcmA.serviceAccount.client_email, aud: 'https://oauth2.googleapis.com/token' });
    expect(grant?.claims.scope).toContain('https://www.googleapis.com/auth/firebase.messaging');
    const [first] = fcmA.to('device-token-1');
    expect(first).toMatchObject({ accessToken: grant?.accessToken, notification: { title: 'Payment received', body: msg.text }, data: msg.data });
    expect(receipt.providerMessageId).toMatch(new RegExp(`^projects/${fcmA.projectId}/messages/`));
  });

  it('an unregistered token is RecipientUnreachableError, is marked dead, and is never sent to again', async () => {
    await tokens.register('user-7', 'tok-live', 'android');
    await tokens.register('user-7', 'tok-gone', 'ios');
    fcmA.unregister('tok-gone');
    const pushChannel = new FailoverProvider({ channel: 'push', providers: [fcm(fcmA, 'fcm-a'), fcm(fcmB, 'fcm-b')], deadRecipients: tokens, logger: quiet });

    const first = await pushChannel.sendWithAttempts(push('tok-gone'));

    expect(first.error).toBeInstanceOf(RecipientUnreachableError);
    expect(first.error).toMatchObject({ recipient: 'tok-gone', message: expect.stringContaining('registration-token-not-registered') });
    expect(first.attempts.map((a) => [a.provider, a.status])).toEqual([['fcm-a', 'failed']]);
    expect(fcmB.sendRequests).toBe(0);
    expect(await tokens.find('tok-gone')).toMatchObject({ deadAt: expect.any(Date), deadReason: expect.stringContaining('not registered') });
    expect((await tokens.activeTokens('user-7')).map((t) => t.token)).toEqual(['tok-live']);

    const requestsBefore = fcmA.sendRequests;
    const again = await pushChannel.sendWithAttempts(push('tok-gone'));
    expect(again.error).toBeInstanceOf(RecipientUnreachableError);
    expect(again.attempts).toEqual([]);
    expect(fcmA.sendRequests).toBe(requestsBefore);

    // Registering the stale token again does not revive it.
    await tokens.register('user-7', 'tok-gone', 'ios');
    expect(await tokens.isDead('tok-gone')).toBe(true);
  });

  it('quota exceeded is retriable and fails over to the second project', async () => {
    fcmA.fail({ kind: 'quota_exceeded' });
    const pushChannel = new FailoverProvider({ channel: 'push', providers: [fcm(fcmA, 'fcm-a'), fcm(fcmB, 'fcm-b')], logger: quiet });

    const result = await pushChannel.sendWithAttempts(push('device-token-2'));

    expect(result.provider).toBe('fcm-b');
    expect(result.attempts[0]).toMatchObject({ provider: 'fcm-a', status: 'failed', error: expect.objectContaining({ retriable: true, message: expect.stringContaining('message-rate-exceeded') }) });
    expect(fcmB.to('device-token-2')).toHaveLength(1);
    // fcm-b did its own OAuth exchange against its own key.
    expect(fcmB.to('device-token-2')[0]?.accessToken).toBe(fcmB.tokenGrants.at(-1)?.accessToken);
  });

  it('503 UNAVAILABLE, after the SDK\'s own retries, is a retriable ProviderError; with no backup the channel reports AllProvidersFailedError', async () => {
    fcmA.fail({ kind: 'unavailable' });
    const pushChannel = new FailoverProvider({ channel: 'push', providers: [fcm(fcmA, 'fcm-a')], logger: quiet });
    const before = fcmA.sendRequests;

    const result = await pushChannel.sendWithAttempts(push('device-token-3'));

    expect(result.error).toBeInstanceOf(AllProvidersFailedError);
    expect((result.error as AllProvidersFailedError).retriable).toBe(true);
    const attempt = result.attempts[0];
    expect(attempt?.error).toBeInstanceOf(ProviderError);
    expect(attempt?.error).toMatchObject({ retriable: true, message: expect.stringContaining('server-unavailable') });
    // firebase-admin retries a 503 itself (4 times, backing off) before giving up.
    expect(fcmA.sendRequests - before).toBe(5);
  });

  it('400 INVALID_ARGUMENT is a permanent ProviderError, whatever its message says: the token is not condemned and no backup is tried', async () => {
    await tokens.register('user-8', 'tok-questioned', 'android');
    // FCM's text for a malformed token; the same code also means a malformed payload.
    fcmA.fail({ kind: 'invalid_argument' });
    const pushChannel = new FailoverProvider({ channel: 'push', providers: [fcm(fcmA, 'fcm-a'), fcm(fcmB, 'fcm-b')], deadRecipients: tokens, logger: quiet });
    const before = [fcmA.sendRequests, fcmB.sendRequests];

    const result = await pushChannel.sendWithAttempts(push('tok-questioned'));

    expect(result.error).toBeInstanceOf(ProviderError);
    expect(result.error).not.toBeInstanceOf(RecipientUnreachableError);
    expect(result.error).toMatchObject({ retriable: false, message: expect.stringContaining('messaging/invalid-argument') });
    expect(result.attempts.map((a) => [a.provider, a.status])).toEqual([['fcm-a', 'failed']]);
    expect([fcmA.sendRequests, fcmB.sendRequests]).toEqual([before[0]! + 1, before[1]]);
    expect(await tokens.isDead('tok-questioned')).toBe(false);
  });

  it('a key the OAuth endpoint does not accept (HTTP 400 invalid_grant) is a non-retriable rejection', async () => {
    const impostor = { ...fcmA.serviceAccount, private_key: fcmB.serviceAccount.private_key };
    const provider = new FcmPushProvider({ name: 'fcm-wrong-key', serviceAccount: impostor, baseUrl: fcmA.url });
    providers.push(provider);
    await expect(provider.send(push('device-token-4'))).rejects.toMatchObject({ name: 'ProviderError', retriable: false, message: expect.stringContaining('token exchange HTTP 400') });
    expect(fcmA.to('device-token-4')).toEqual([]);
  });

  it('an OAuth endpoint answering 503 is a retriable failure (the key is fine), and the next send goes through', async () => {
    fcmA.fail({ kind: 'token_endpoint_unavailable' });
    const provider = fcm(fcmA, 'fcm-token-outage');
    await expect(provider.send(push('device-token-6'))).rejects.toMatchObject({ name: 'ProviderError', retriable: true, message: expect.stringContaining('token exchange HTTP 503') });
    expect(fcmA.to('device-token-6')).toEqual([]);

    fcmA.fail(undefined);
    await provider.send(push('device-token-6'));
    expect(fcmA.to('device-token-6')).toHaveLength(1);
  });

  it('is configured from FCM_SERVICE_ACCOUNT (inline JSON) and FCM_BASE_URL', async () => {
    const env = readEnv({ FCM_SERVICE_ACCOUNT: JSON.stringify(fcmB.serviceAccount), FCM_BASE_URL: fcmB.url });
    const configured = createProvidersFromEnv({ env, deviceTokens: tokens, logger: quiet });
    try {
      const receipt = await configured.channels.push?.send(push('device-token-5'));
      expect(receipt?.providerMessageId).toMatch(/^projects\//);
      expect(fcmB.to('device-token-5')).toHaveLength(1);
    } finally {
      await configured.close();
    }
  });
});
