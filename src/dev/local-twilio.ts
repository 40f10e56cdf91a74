import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { startLocalJsonServer, type JsonReply, type LocalJsonServer } from './local-json-server';

/**
 * A local stand-in for Twilio's Messages API, for the tests and the demo: a real HTTP server
 * speaking the same wire format (form-encoded POST, HTTP basic auth, Twilio-shaped JSON), so
 * the real twilio SDK is what talks to it. It records accepted messages and can be told to
 * fail, for everyone or for chosen numbers.
 */
export interface CapturedSms {
  sid: string;
  accountSid: string;
  to: string;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  body: string;
  statusCallback: string | undefined;
  receivedAt: Date;
}

export type TwilioFailure =
  | { kind: 'unavailable' } // 503
  | { kind: 'rate_limited' } // 429, Twilio code 20429
  | { kind: 'invalid_number' } // 400, Twilio code 21211
  | { kind: 'unsubscribed' }; // 400, Twilio code 21610

const FAILURES: Record<TwilioFailure['kind'], { status: number; code: number; message: string }> = {
  unavailable: { status: 503, code: 20503, message: 'Service unavailable' },
  rate_limited: { status: 429, code: 20429, message: 'Too Many Requests' },
  invalid_number: { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." },
  unsubscribed: { status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' },
};

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

export class LocalTwilio {
  readonly messages: CapturedSms[] = [];
  /** Every Messages request that arrived, accepted or not. */
  requests = 0;
  private failure: { rule: TwilioFailure; numbers?: ReadonlySet<string> } | undefined;
  private server: LocalJsonServer | undefined;

  private constructor(
    readonly accountSid: string,
    readonly authToken: string,
  ) {}

  static async start(options: { accountSid?: string; authToken?: string; port?: number } = {}): Promise<LocalTwilio> {
    const local = new LocalTwilio(options.accountSid ?? `AC${randomBytes(16).toString('hex')}`, options.authToken ?? randomBytes(16).toString('hex'));
    local.server = await startLocalJsonServer((req, body) => local.handle(req, body), options.port);
    return local;
  }

  /** Base URL to give the SDK in place of https://api.twilio.com. */
  get url(): string {
    return this.server?.url ?? '';
  }

  /** Fail from now on, for every number or only the given ones; `undefined` accepts again. */
  fail(rule: TwilioFailure | undefined, numbers?: string[]): void {
    this.failure = rule && { rule, numbers: numbers && new Set(numbers) };
  }

  to(number: string): CapturedSms[] {
    return this.messages.filter((m) => m.to === number);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private handle(req: http.IncomingMessage, body: string): JsonReply {
    const match = MESSAGES_PATH.exec(new URL(req.url ?? '/', 'http://local').pathname);
    if (req.method !== 'POST' || !match) return twilioError(404, 20404, 'The requested resource was not found');
    this.requests += 1;
    if (!this.authorized(req.headers.authorization, match[1])) return twilioError(401, 20003, 'Authentication Error - invalid username');
    const form = new URLSearchParams(body);
    const to = form.get('To');
    const text = form.get('Body');
    const from = form.get('From') ?? undefined;
    const messagingServiceSid = form.get('MessagingServiceSid') ?? undefined;
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!text) return twilioError(400, 21602, 'Message body is required.');
    if (!from && !messagingServiceSid) return twilioError(400, 21603, "A 'From' phone number is required.");
    const failure = this.failure;
    if (failure && (!failure.numbers || failure.numbers.has(to))) {
      const f = FAILURES[failure.rule.kind];
      return twilioError(f.status, f.code, f.message);
    }
    const sms: CapturedSms = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid: this.accountSid,
      to,
      from,
      messagingServiceSid,
      body: text,
      statusCallback: form.get('StatusCallback') ?? undefined,
      receivedAt: new Date(),
    };
    this.messages.push(sms);
    return { status: 201, body: messageResource(sms) };
  }

  private authorized(header: string | undefined, pathSid: string | undefined): boolean {
    if (!header?.startsWith('Basic ')) return false;
    const [user, password] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
    return user === this.accountSid && password === this.authToken && pathSid === this.accountSid;
  }
}

function messageResource(sms: CapturedSms): Record<string, unknown> {
  const created = sms.receivedAt.toUTCString().replace('GMT', '+0000');
  return {
    sid: sms.sid,
    account_sid: sms.accountSid,
    api_version: '2010-04-01',
    body: sms.body,
    date_created: created,
    date_updated: created,
    date_sent: null,
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: sms.from ?? null,
    messaging_service_sid: sms.messagingServiceSid ?? null,
    num_media: '0',
    num_segments: String(Math.max(1, Math.ceil(sms.body.length / 160))),
    price: null,
    price_unit: 'USD',
    status: 'queued',
    subresource_uris: { media: `/2010-04-01/Accounts/${sms.accountSid}/Messages/${sms.sid}/Media.json` },
    to: sms.to,
    uri: `/2010-04-01/Accounts/${sms.accountSid}/Messages/${sms.sid}.json`,
  };
}

/** Twilio's REST error body. */
function twilioError(status: number, code: number, message: string): JsonReply {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}
