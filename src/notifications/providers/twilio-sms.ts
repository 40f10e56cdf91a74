import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type Response from 'twilio/lib/http/response';
import { z } from 'zod';
import { durationMs, parseOptions } from '../../config/options';
import { ProviderError, RecipientUnreachableError, describe } from '../../errors';
import { ATTR, inClientSpan } from '../../observability/tracing';
import type { ChannelName, OutboundMessage, Provider, ProviderReceipt } from '../channels/channel';

export interface TwilioSmsOptions {
  /** Name used in the delivery ledger. Default "twilio". */
  name?: string;
  accountSid: string;
  authToken: string;
  /** Sender: an E.164 number, or a Messaging Service SID (`MG…`) that picks the number itself. */
  from: string;
  /**
   * Where Twilio's REST API is, e.g. `http://127.0.0.1:4010` for a local fake. Default: the
   * real `https://api.twilio.com`. Only the origin (and an optional path prefix) changes; the
   * SDK builds every request itself.
   */
  baseUrl?: string;
  /**
   * Twilio has no idempotency key for messages. When set, each message asks Twilio to report
   * its status here with `?idempotencyKey=…` appended, so status callbacks (and a duplicate
   * sent in the accept→ledger window) can be matched to the delivery.
   */
  statusCallbackUrl?: string;
  /** Per-request timeout in ms. Default 10000. */
  timeoutMs?: number;
}

/**
 * Twilio error codes that mean the number itself cannot receive SMS: retrying or another
 * account will not help.
 * https://www.twilio.com/docs/api/errors
 */
const UNREACHABLE_CODES: ReadonlyMap<number, string> = new Map([
  [21211, 'invalid phone number'],
  [21214, 'number cannot be reached'],
  [21407, 'destination not supported for SMS'],
  [21408, 'region not enabled for this account'],
  [21610, 'recipient unsubscribed (replied STOP)'],
  [21612, 'carrier cannot route to this number'],
  [21614, 'number is not a mobile number'],
]);

const optionsSchema = z.object({
  name: z.string().min(1).default('twilio'),
  accountSid: z.string().regex(/^AC[0-9a-zA-Z]+$/, { error: 'must be an account SID (AC…)' }),
  authToken: z.string().min(1),
  from: z.string().regex(/^(\+[1-9]\d{1,14}|MG[0-9a-zA-Z]+)$/, { error: 'must be an E.164 number (+15551234567) or a Messaging Service SID (MG…)' }),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  statusCallbackUrl: z.url({ protocol: /^https?$/ }).optional(),
  timeoutMs: durationMs.default(10_000),
});

/** SMS through the twilio SDK's `messages.create`. */
export class TwilioSmsProvider implements Provider {
  readonly name: string;
  readonly channel: ChannelName = 'sms';
  private readonly client: twilio.Twilio;
  private readonly sender: { from: string } | { messagingServiceSid: string };
  private readonly statusCallbackUrl: string | undefined;

  constructor(input: TwilioSmsOptions) {
    const options = parseOptions(`Twilio provider (${input.name ?? 'twilio'})`, optionsSchema, input);
    this.name = options.name;
    this.sender = options.from.startsWith('MG') ? { messagingServiceSid: options.from } : { from: options.from };
    this.statusCallbackUrl = options.statusCallbackUrl;
    const timeout = options.timeoutMs;
    this.client = twilio(options.accountSid, options.authToken, {
      timeout,
      // Failover and the retry tiers decide about retrying; the SDK's own 429 retry stays off.
      autoRetry: false,
      httpClient: options.baseUrl ? new RebasedRequestClient(new URL(options.baseUrl), { timeout }) : undefined,
    });
  }

  async send(message: OutboundMessage): Promise<ProviderReceipt> {
    return inClientSpan('sms send', { [ATTR.channel]: 'sms', [ATTR.provider]: this.name }, async (span) => {
      try {
        const created = await this.client.messages.create({
          to: message.recipient,
          body: message.text,
          ...this.sender,
          ...(this.statusCallbackUrl ? { statusCallback: withQuery(this.statusCallbackUrl, 'idempotencyKey', message.idempotencyKey) } : {}),
        });
        span.setAttribute(ATTR.providerMessageId, created.sid);
        return { providerMessageId: created.sid };
      } catch (error) {
        if (error instanceof twilio.RestException) span.setAttribute(ATTR.httpStatus, error.status);
        throw this.classify(error, message.recipient);
      }
    });
  }

  private classify(error: unknown, recipient: string): Error {
    if (!(error instanceof twilio.RestException)) {
      // No HTTP answer at all: connection refused, reset, timeout.
      return new ProviderError(this.name, `request failed: ${describe(error)}`, { retriable: true, cause: error });
    }
    const detail = `HTTP ${error.status}${error.code ? ` code ${error.code}` : ''}: ${error.message}`;
    const unreachable = error.code === undefined ? undefined : UNREACHABLE_CODES.get(error.code);
    if (unreachable) return new RecipientUnreachableError(this.name, recipient, `${unreachable} (code ${error.code})`, error);
    const retriable = error.status === 429 || error.status >= 500;
    return new ProviderError(this.name, detail, { retriable, cause: error });
  }
}

/**
 * The SDK's own request client with Twilio's hosts swapped for a configured base URL, for a
 * local fake or a recording proxy. Everything else (auth, form encoding, headers, timeouts)
 * stays the SDK's.
 */
class RebasedRequestClient extends twilio.RequestClient {
  constructor(
    private readonly base: URL,
    options: RequestClient.RequestClientOptions,
  ) {
    super(options);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<Response<TData>> {
    const original = new URL(opts.uri);
    if (!original.hostname.endsWith('.twilio.com')) return super.request(opts);
    const rebased = new URL(this.base.href);
    rebased.pathname = `${this.base.pathname.replace(/\/$/, '')}${original.pathname}`;
    rebased.search = original.search;
    return super.request({ ...opts, uri: rebased.href });
  }
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.href;
}
