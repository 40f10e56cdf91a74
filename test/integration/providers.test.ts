import net from 'node:net';
import { AllProvidersFailedError, ConfigError, ProviderError, RecipientUnreachableError } from '../../src/errors';
import type { OutboundMessage, Provider } from '../../src/notifications/channels/channel';
import { CircuitOpenError } from '../../src/notifications/providers/circuit-breaker';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { createProvidersFromEnv } from '../../src/notifications/providers/providers-from-env';
import { SmtpProvider } from '../../src/notifications/providers/smtp-provider';
import { TwilioSmsProvider } from '../../src/notifications/providers/twilio-sms';
import { FcmPushProvider } from '../../src/notifications/providers/fcm-push';
import { readEnv } from '../../src/config/env';
import { createLogger } from '../../src/observability/logger';
import { LocalTwilio } from '../../src/dev/local-twilio';
import { createTestContext, type TestContext } from '../helpers/test-context';

const FROM = 'Tidings <no-reply@tidings.test>';
const SENDER = '+15550001000';

let seq = 0;
function message(channel: 'email' | 'sms', recipient: string, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  seq += 1;
  return {
    channel,
    eventId: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    userId: `user-${seq}`,
    recipient,
    title: `Payment received #${seq}`,
    text: `We received your payment #${seq}.`,
    html: `<p>We received your payment <b>#${seq}</b>.</p>`,
    idempotencyKey: `evt-${seq}.${channel}`,
    ...overrides,
  };
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function twilioFor(fake: LocalTwilio, name: string, from = SENDER): TwilioSmsProvider {
  return new TwilioSmsProvider({ name, accountSid: fake.accountSid, authToken: fake.authToken, from, baseUrl: fake.url });
}

describe('notification providers: SMTP and Twilio through their real clients, with failover', () => {
  let ctx: TestContext;
  let twilioA: LocalTwilio;
  let twilioB: LocalTwilio;
  const closeAfter: Provider[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 1 });
    [twilioA, twilioB] = await Promise.all([LocalTwilio.start(), LocalTwilio.start()]);
  });

  afterEach(() => {
    ctx.mail.refuse(undefined);
    twilioA.fail(undefined);
    twilioB.fail(undefined);
  });

  afterAll(async () => {
    await Promise.all(closeAfter.map((p) => p.close?.()));
    await twilioA?.close();
    await twilioB?.close();
    await ctx?.dispose();
  });

  function track<T extends Provider>(provider: T): T {
    closeAfter.push(provider);
    return provider;
  }

  describe('email', () => {
    it('delivers subject, text and html, with the idempotency key as Message-ID', async () => {
      const smtp = track(new SmtpProvider({ url: ctx.mail.url, from: FROM }));
      const msg = message('email', 'ada@example.com');
      const receipt = await smtp.send(msg);
      const [mail] = await ctx.mail.waitFor((all) => all.some((m) => m.subject === msg.title));
      const got = ctx.mail.to('ada@example.com').find((m) => m.subject === msg.title);
      expect(mail).toBeDefined();
      expect(got).toMatchObject({ text: expect.stringContaining(msg.text), html: expect.stringContaining('<b>#'), messageId: `<${msg.idempotencyKey}@tidings.test>` });
      expect(receipt.providerMessageId).toBe(`<${msg.idempotencyKey}@tidings.test>`);
    });

    it('builds plain-address emails itself and leaves an internationalised sender to nodemailer: both arrive whole', async () => {
      const own = track(new SmtpProvider({ url: ctx.mail.url, from: FROM }));
      const idn = track(new SmtpProvider({ url: ctx.mail.url, from: 'Tidings <avis@exämple.test>' }));
      const subject = 'Paiement reçu — 12,50 € pour « Abonnement annuel », merci de votre confiance';
      const text = 'Bonjour Zoë,\n\n.Merci = thanks \nLigne longue: ' + 'x'.repeat(120);
      const sent: Array<{ provider: SmtpProvider; msg: OutboundMessage; builtBy: RegExp }> = [
        { provider: own, msg: message('email', 'zoe.muller+1@example.com', { title: subject, text, data: { eventType: 'PAYMENT_SUCCEEDED' } }), builtBy: /boundary="=_tidings_/ },
        { provider: idn, msg: message('email', 'zoe.muller+2@example.com', { title: subject, text, data: { eventType: 'PAYMENT_SUCCEEDED' } }), builtBy: /boundary="(?!=_tidings_)/ },
      ];
      for (const { provider, msg, builtBy } of sent) {
        const receipt = await provider.send(msg);
        const [got] = await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(msg.recipient)));
        const mail = ctx.mail.to(msg.recipient)[0] ?? got;
        expect(mail).toMatchObject({ to: [msg.recipient], subject, text, html: msg.html, messageId: receipt.providerMessageId });
        expect(mail?.headers['x-tidings-event-id']).toBe(msg.eventId);
        expect(mail?.headers['x-tidings-event-type']).toBe('PAYMENT_SUCCEEDED');
        expect(mail?.headers['date']).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/);
        expect(mail?.headers['content-type']).toMatch(builtBy);
      }
      expect(ctx.mail.to('zoe.muller+1@example.com')[0]?.from).toBe('no-reply@tidings.test');
      expect(ctx.mail.to('zoe.muller+2@example.com')[0]?.from).toBe('avis@exämple.test');
    });

    it('classifies a 4xx refusal as retriable and a 5xx refusal as not', async () => {
      const smtp = track(new SmtpProvider({ url: ctx.mail.url, from: FROM }));
      ctx.mail.refuse({ code: 451 });
      await expect(smtp.send(message('email', 'grace@example.com'))).rejects.toMatchObject({ name: 'ProviderError', retriable: true });
      ctx.mail.refuse({ code: 550 });
      const refused = smtp.send(message('email', 'grace@example.com'));
      await expect(refused).rejects.toMatchObject({ name: 'ProviderError', retriable: false, code: 'PROVIDER_REJECTED' });
      // The address stays out of the error text, which ends up in logs and the ledger.
      await expect(refused).rejects.toThrow(/g\*\*\*@example\.com/);
    });

    it('when the primary relay is down, the backup delivers; attempts show the primary failed with its latency', async () => {
      const down = track(new SmtpProvider({ name: 'smtp-primary', url: `smtp://127.0.0.1:${await closedPort()}`, from: FROM }));
      const up = track(new SmtpProvider({ name: 'smtp-backup', url: ctx.mail.url, from: FROM }));
      const email = new FailoverProvider({ channel: 'email', providers: [down, up], logger: createLogger('test', 'silent') });
      const msg = message('email', 'linus@example.com');

      const result = await email.sendWithAttempts(msg);

      expect(result.error).toBeUndefined();
      expect(result.provider).toBe('smtp-backup');
      expect(result.attempts).toEqual([
        { provider: 'smtp-primary', status: 'failed', error: expect.any(ProviderError), latencyMs: expect.any(Number) },
        { provider: 'smtp-backup', status: 'sent', latencyMs: expect.any(Number) },
      ]);
      expect((result.attempts[0]?.error as ProviderError).retriable).toBe(true);
      expect(String((result.attempts[0]?.error as Error).message)).toMatch(/ECONNREFUSED/);
      expect(result.attempts[0]?.latencyMs).toBeGreaterThan(0);
      await ctx.mail.waitFor(() => ctx.mail.to('linus@example.com').some((m) => m.subject === msg.title));
    });
  });

  describe('SMS', () => {
    it('sends through the real twilio SDK: the fake receives to, from and body, and the receipt is the message SID', async () => {
      const sms = track(twilioFor(twilioA, 'twilio-primary'));
      const msg = message('sms', '+15551230001');
      const receipt = await sms.send(msg);
      const [sent] = twilioA.to('+15551230001');
      expect(sent).toMatchObject({ to: '+15551230001', from: SENDER, body: msg.text, accountSid: twilioA.accountSid });
      expect(receipt.providerMessageId).toBe(sent?.sid);
      expect(receipt.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    });

    it('sends from a Messaging Service when the sender is an MG… SID, and tags the status callback with the idempotency key', async () => {
      const service = `MG${'a'.repeat(32)}`;
      const sms = track(
        new TwilioSmsProvider({
          accountSid: twilioA.accountSid,
          authToken: twilioA.authToken,
          from: service,
          baseUrl: twilioA.url,
          statusCallbackUrl: 'https://hooks.tidings.test/twilio/status',
        }),
      );
      const msg = message('sms', '+15551230002');
      await sms.send(msg);
      expect(twilioA.to('+15551230002')).toEqual([
        expect.objectContaining({ from: undefined, messagingServiceSid: service, statusCallback: `https://hooks.tidings.test/twilio/status?idempotencyKey=${encodeURIComponent(msg.idempotencyKey)}` }),
      ]);
    });

    it('an invalid number (21211) or an unsubscribed one (21610) is RecipientUnreachableError, and failover does not try the backup', async () => {
      const sms = new FailoverProvider({ channel: 'sms', providers: [track(twilioFor(twilioA, 'twilio-a')), track(twilioFor(twilioB, 'twilio-b'))] });
      twilioA.fail({ kind: 'invalid_number' }, ['+15550000000']);
      const before = twilioB.requests;

      const result = await sms.sendWithAttempts(message('sms', '+15550000000'));

      expect(result.error).toBeInstanceOf(RecipientUnreachableError);
      expect(result.error).toMatchObject({ code: 'RECIPIENT_UNREACHABLE', retriable: false, recipient: '+15550000000', message: expect.stringContaining('21211') });
      expect(result.attempts.map((a) => [a.provider, a.status])).toEqual([['twilio-a', 'failed']]);
      expect(twilioB.requests).toBe(before);

      twilioA.fail({ kind: 'unsubscribed' });
      await expect(sms.send(message('sms', '+15550000001'))).rejects.toMatchObject({ name: 'RecipientUnreachableError', message: expect.stringContaining('21610') });
    });

    it('429 and 503 are retriable; a wrong auth token (401) is a non-retriable rejection', async () => {
      const sms = track(twilioFor(twilioA, 'twilio-a'));
      twilioA.fail({ kind: 'rate_limited' });
      await expect(sms.send(message('sms', '+15551230003'))).rejects.toMatchObject({ name: 'ProviderError', retriable: true });
      twilioA.fail({ kind: 'unavailable' });
      await expect(sms.send(message('sms', '+15551230003'))).rejects.toMatchObject({ name: 'ProviderError', retriable: true });
      twilioA.fail(undefined);
      const wrongToken = track(new TwilioSmsProvider({ accountSid: twilioA.accountSid, authToken: 'not-the-token', from: SENDER, baseUrl: twilioA.url }));
      await expect(wrongToken.send(message('sms', '+15551230003'))).rejects.toMatchObject({ name: 'ProviderError', retriable: false, message: expect.stringContaining('401') });
    });

    it('when Twilio account A answers 503, account B delivers and the attempts say so', async () => {
      const sms = new FailoverProvider({ channel: 'sms', providers: [track(twilioFor(twilioA, 'twilio-a')), track(twilioFor(twilioB, 'twilio-b', '+15550002000'))], logger: createLogger('test', 'silent') });
      twilioA.fail({ kind: 'unavailable' });
      const msg = message('sms', '+15551230004');

      const result = await sms.sendWithAttempts(msg);

      expect(result.receipt?.providerMessageId).toBe(twilioB.to('+15551230004')[0]?.sid);
      expect(result.attempts).toEqual([
        { provider: 'twilio-a', status: 'failed', error: expect.objectContaining({ retriable: true, message: expect.stringContaining('503') }), latencyMs: expect.any(Number) },
        { provider: 'twilio-b', status: 'sent', latencyMs: expect.any(Number) },
      ]);
      expect(twilioA.to('+15551230004')).toEqual([]);
      expect(twilioB.to('+15551230004')[0]).toMatchObject({ from: '+15550002000', body: msg.text });
    });
  });

  describe('circuit breaking', () => {
    it('after N failures the failing provider is skipped without a request; after the cool-down one trial goes to it again', async () => {
      let now = 5_000_000;
      const sms = new FailoverProvider({
        channel: 'sms',
        providers: [track(twilioFor(twilioA, 'twilio-a')), track(twilioFor(twilioB, 'twilio-b'))],
        circuit: { failureThreshold: 2, cooldownMs: 60_000, now: () => now },
        logger: createLogger('test', 'silent'),
      });
      twilioA.fail({ kind: 'unavailable' });
      await sms.send(message('sms', '+15551230010'));
      await sms.send(message('sms', '+15551230011'));
      expect(sms.circuitState('twilio-a')).toBe('open');

      const requestsToA = twilioA.requests;
      const skipped = await sms.sendWithAttempts(message('sms', '+15551230012'));
      expect(twilioA.requests).toBe(requestsToA);
      expect(skipped.attempts).toEqual([
        { provider: 'twilio-a', status: 'skipped', error: expect.any(CircuitOpenError), latencyMs: 0 },
        { provider: 'twilio-b', status: 'sent', latencyMs: expect.any(Number) },
      ]);

      // A recovers; once the cool-down has passed, the half-open trial reaches it and closes the circuit.
      twilioA.fail(undefined);
      now += 59_999;
      expect((await sms.sendWithAttempts(message('sms', '+15551230013'))).attempts[0]?.status).toBe('skipped');
      now += 1;
      expect(sms.circuitState('twilio-a')).toBe('half_open');
      const trial = await sms.sendWithAttempts(message('sms', '+15551230014'));
      expect(trial.attempts).toEqual([{ provider: 'twilio-a', status: 'sent', latencyMs: expect.any(Number) }]);
      expect(twilioA.to('+15551230014')).toHaveLength(1);
      expect(sms.circuitState('twilio-a')).toBe('closed');
    });

    it('refuses bad circuit options at construction with a ConfigError naming the option', () => {
      const build = (circuit: object) => () => new FailoverProvider({ channel: 'email', providers: [track(new SmtpProvider({ url: ctx.mail.url, from: FROM }))], circuit, logger: createLogger('test', 'silent') });
      expect(build({ failureThreshold: 0 })).toThrow(ConfigError);
      expect(build({ failureThreshold: 0 })).toThrow(/failureThreshold .*>=1/);
      expect(build({ cooldownMs: -1 })).toThrow(/cooldownMs /);
      expect(build({ cooldown: 1_000 })).toThrow(/Unrecognized key.*cooldown/);
    });

    it('refuses bad provider options at construction with a ConfigError naming the option, before any connection', () => {
      const account = { project_id: 'p', client_email: 'push@p.iam.gserviceaccount.com', private_key: '-----BEGIN PRIVATE KEY-----\n…' };
      expect(() => new SmtpProvider({ url: 'http://mail.example.com', from: FROM })).toThrow(/^invalid SMTP provider options: url must be an smtp:\/\/ or smtps:\/\/ URL/);
      expect(() => new SmtpProvider({ url: ctx.mail.url, from: FROM, socketTimeoutMs: 30 * 24 * 3_600_000 })).toThrow(/socketTimeoutMs must be at most/);
      expect(() => new TwilioSmsProvider({ accountSid: 'SK123', authToken: 't', from: SENDER })).toThrow(/accountSid must be an account SID/);
      expect(() => new TwilioSmsProvider({ accountSid: twilioA.accountSid, authToken: 't', from: '555-1000' })).toThrow(/from must be an E\.164 number/);
      expect(() => new FcmPushProvider({ serviceAccount: { ...account, private_key: 'not a key' } })).toThrow(/^invalid FCM provider \(fcm\) options: serviceAccount\.private_key must be a PEM private key/);
      expect(() => new FcmPushProvider({ serviceAccount: account, baseUrl: 'localhost:4020' })).toThrow(ConfigError);
    });

    it('when every provider fails or is skipped, the error is AllProvidersFailedError carrying each attempt', async () => {
      const sms = new FailoverProvider({
        channel: 'sms',
        providers: [track(twilioFor(twilioA, 'twilio-a')), track(twilioFor(twilioB, 'twilio-b'))],
        circuit: { failureThreshold: 1 },
        logger: createLogger('test', 'silent'),
      });
      twilioA.fail({ kind: 'unavailable' });
      twilioB.fail({ kind: 'rate_limited' });

      const first = await sms.sendWithAttempts(message('sms', '+15551230020'));
      expect(first.receipt).toBeUndefined();
      expect(first.error).toBeInstanceOf(AllProvidersFailedError);
      const error = first.error as AllProvidersFailedError;
      expect(error.retriable).toBe(true);
      expect(error.attempts.map((a) => a.provider)).toEqual(['twilio-a', 'twilio-b']);
      expect(error.message).toMatch(/twilio-a: .*503.*twilio-b: .*429/);

      const second = await sms.sendWithAttempts(message('sms', '+15551230021'));
      expect(second.attempts.map((a) => a.status)).toEqual(['skipped', 'skipped']);
      expect(second.error).toBeInstanceOf(AllProvidersFailedError);
      await expect(sms.send(message('sms', '+15551230022'))).rejects.toBeInstanceOf(AllProvidersFailedError);
    });
  });

  describe('configuration from the environment', () => {
    it('disables a channel whose credentials are missing, with the reason, instead of failing', async () => {
      const env = readEnv({ SMTP_URL: ctx.mail.url, DATABASE_URL: ctx.databaseUrl, LOG_LEVEL: 'silent' });
      const providers = createProvidersFromEnv({ env, logger: createLogger('test', 'silent') });
      try {
        expect(Object.keys(providers.channels)).toEqual(['email']);
        expect(providers.disabled).toEqual({
          sms: 'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM not set',
          push: 'FCM_SERVICE_ACCOUNT is not set',
        });
      } finally {
        await providers.close();
      }
    });

    it('builds primary and backup Twilio accounts pointed at local endpoints, and they fail over', async () => {
      const env = readEnv({
        SMTP_URL: ctx.mail.url,
        TWILIO_ACCOUNT_SID: twilioA.accountSid,
        TWILIO_AUTH_TOKEN: twilioA.authToken,
        TWILIO_FROM: SENDER,
        TWILIO_BASE_URL: twilioA.url,
        TWILIO_BACKUP_ACCOUNT_SID: twilioB.accountSid,
        TWILIO_BACKUP_AUTH_TOKEN: twilioB.authToken,
        TWILIO_BACKUP_FROM: '+15550002000',
        TWILIO_BACKUP_BASE_URL: twilioB.url,
      });
      const providers = createProvidersFromEnv({ env, logger: createLogger('test', 'silent') });
      try {
        const sms = providers.channels.sms;
        expect(sms?.providers.map((p) => p.name)).toEqual(['twilio-primary', 'twilio-backup']);
        twilioA.fail({ kind: 'unavailable' });
        const result = await sms?.sendWithAttempts(message('sms', '+15551230030'));
        expect(result?.provider).toBe('twilio-backup');
        expect(twilioB.to('+15551230030')).toHaveLength(1);
      } finally {
        await providers.close();
      }
    });

    it('rejects malformed provider settings at start-up, naming the variable', () => {
      expect(() => readEnv({ TWILIO_ACCOUNT_SID: 'SK123' })).toThrow(/TWILIO_ACCOUNT_SID must be a Twilio account SID/);
      expect(() => readEnv({ TWILIO_FROM: '5551234' })).toThrow(/TWILIO_FROM must be an E\.164 number/);
      expect(() => readEnv({ FCM_BASE_URL: 'https://fcm.googleapis.com' })).toThrow(/FCM_BASE_URL must be a plain http:\/\/host:port URL/);
      expect(() => createProvidersFromEnv({ env: readEnv({ FCM_SERVICE_ACCOUNT: '/nonexistent/key.json' }), logger: createLogger('test', 'silent') })).toThrow(
        /FCM_SERVICE_ACCOUNT: cannot read service account file/,
      );
    });
  });
});
