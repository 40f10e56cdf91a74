import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cert, deleteApp, initializeApp, type App, type Credential, type GoogleOAuthAccessToken, type ServiceAccount } from 'firebase-admin/app';
import { getMessaging, type Messaging } from 'firebase-admin/messaging';
import { z } from 'zod';
import { parseOptions } from '../../config/options';
import { ConfigError, ProviderError, RecipientUnreachableError, describe } from '../../errors';
import { ATTR, inClientSpan } from '../../observability/tracing';
import type { ChannelName, OutboundMessage, Provider, ProviderReceipt } from '../channels/channel';
import { HostRedirectAgent } from './host-redirect-agent';

/** A Google service account key file as downloaded from the Firebase console (snake_case). */
export interface FcmServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

export interface FcmPushOptions {
  /** Name used in the delivery ledger. Default "fcm". */
  name?: string;
  serviceAccount: FcmServiceAccount;
  /** Default: the service account's project_id. */
  projectId?: string;
  /**
   * A local FCM endpoint (`http://host:port`) to use instead of `https://fcm.googleapis.com`,
   * for tests and the demo. The OAuth token exchange then goes to the origin of the service
   * account's `token_uri` when that is an http:// URL, otherwise to this same endpoint.
   * The SDK always asks for `/token` and `/v1/projects/<id>/messages:send`.
   */
  baseUrl?: string;
}

const FCM_HOST = 'fcm.googleapis.com';
const OAUTH_HOST = 'oauth2.googleapis.com';

/**
 * firebase-admin's codes (from FCM's error codes) that may pass on a later try: quota, an
 * overloaded or failing service, no answer at all.
 * https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
 */
const RETRIABLE_CODES: ReadonlySet<string> = new Set([
  'messaging/message-rate-exceeded',
  'messaging/device-message-rate-exceeded',
  'messaging/server-unavailable',
  'messaging/internal-error',
  'messaging/unknown-error',
  'app/network-error',
  'app/network-timeout',
]);

/** Codes that say the token itself is dead: UNREGISTERED (the app was uninstalled) and the legacy InvalidRegistration. */
const DEAD_TOKEN_CODES: ReadonlySet<string> = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);

const optionsSchema = z.object({
  name: z.string().min(1).default('fcm'),
  serviceAccount: z.looseObject({
    project_id: z.string().min(1),
    client_email: z.string().min(1),
    private_key: z.string().includes('PRIVATE KEY', { error: 'must be a PEM private key' }),
    token_uri: z.url().optional(),
  }),
  projectId: z.string().min(1).optional(),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
});

/** Push notifications through firebase-admin's FCM v1 `messaging.send`. */
export class FcmPushProvider implements Provider {
  readonly name: string;
  readonly channel: ChannelName = 'push';
  private readonly app: App;
  private readonly messaging: Messaging;
  private readonly agent: HostRedirectAgent | undefined;
  private readonly keyDir: string | undefined;
  private readonly credential: ObservedCredential;

  constructor(input: FcmPushOptions) {
    const options = parseOptions(`FCM provider (${input.name ?? 'fcm'})`, optionsSchema, input);
    this.name = options.name;
    const account: FcmServiceAccount = options.serviceAccount;
    // Several providers (primary, backup, tests) may live in one process: each gets its own app.
    const appName = `tidings-${this.name}-${randomUUID()}`;
    this.agent = options.baseUrl ? new HostRedirectAgent(localRoutes(options.baseUrl, account.token_uri)) : undefined;
    let credential: Credential;
    if (this.agent) {
      // firebase-admin hands its httpAgent to the OAuth client only when it loads the key from
      // a file (for an object it builds the client without transport options), so the token
      // exchange would bypass the local endpoint. A private temp copy of the key fixes that.
      this.keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-fcm-'));
      const keyFile = path.join(this.keyDir, 'service-account.json');
      fs.writeFileSync(keyFile, JSON.stringify(account), { mode: 0o600 });
      credential = cert(keyFile, this.agent);
    } else {
      const sdkAccount: ServiceAccount & Record<string, unknown> = {
        ...account,
        projectId: account.project_id,
        clientEmail: account.client_email,
        privateKey: account.private_key,
      };
      credential = cert(sdkAccount);
    }
    this.credential = new ObservedCredential(credential);
    this.app = initializeApp({ credential: this.credential, projectId: options.projectId ?? account.project_id, httpAgent: this.agent }, appName);
    this.messaging = getMessaging(this.app);
  }

  async send(message: OutboundMessage): Promise<ProviderReceipt> {
    return inClientSpan('push send', { [ATTR.channel]: 'push', [ATTR.provider]: this.name }, async (span) => {
      try {
        const id = await this.messaging.send({
          token: message.recipient,
          notification: { title: message.title, body: message.text },
          data: message.data,
          // FCM has no idempotency key; collapse/tag keep a re-sent copy from showing twice.
          android: { collapseKey: message.idempotencyKey },
          apns: { headers: { 'apns-collapse-id': message.idempotencyKey.slice(0, 64) } },
        });
        span.setAttribute(ATTR.providerMessageId, id);
        return { providerMessageId: id };
      } catch (error) {
        throw this.classify(error, message.recipient);
      }
    });
  }

  async close(): Promise<void> {
    await deleteApp(this.app);
    this.agent?.destroy();
    if (this.keyDir) fs.rmSync(this.keyDir, { recursive: true, force: true });
  }

  /** By firebase-admin's error code (FCM's error code) and, for the token exchange, its HTTP status. */
  private classify(error: unknown, recipient: string): Error {
    const code = (error as { code?: unknown }).code;
    const detail = describe(error);
    if (typeof code !== 'string') return new ProviderError(this.name, `send failed: ${detail}`, { retriable: true, cause: error });
    if (DEAD_TOKEN_CODES.has(code)) return new RecipientUnreachableError(this.name, recipient, `push token is not registered (${code})`, error);
    if (RETRIABLE_CODES.has(code)) return new ProviderError(this.name, `${code}: ${detail}`, { retriable: true, cause: error });
    if (code === 'app/invalid-credential') {
      // firebase-admin flattens every failed token exchange into this code; the exchange's own
      // HTTP status tells a refused key (4xx: configuration) from an outage (none, 429, 5xx).
      const status = httpStatusOf(this.credential.lastFailure);
      const retriable = this.credential.lastFailure !== undefined && (status === undefined || status === 429 || status >= 500);
      return new ProviderError(this.name, `${code}${status === undefined ? '' : ` (token exchange HTTP ${status})`}: ${detail}`, { retriable, cause: error });
    }
    // INVALID_ARGUMENT (a malformed payload, or a malformed token: FCM gives both the same code,
    // so the token is not condemned on it), authentication and sender mismatches: resending
    // the same message cannot succeed.
    return new ProviderError(this.name, `${code}: ${detail}`, { retriable: false, cause: error });
  }
}

/**
 * The service account credential, keeping the last token exchange failure as the OAuth
 * client threw it (with its HTTP response), before firebase-admin reduces it to text.
 */
class ObservedCredential implements Credential {
  lastFailure: unknown;

  constructor(private readonly inner: Credential) {}

  async getAccessToken(): Promise<GoogleOAuthAccessToken> {
    try {
      const token = await this.inner.getAccessToken();
      this.lastFailure = undefined;
      return token;
    } catch (error) {
      this.lastFailure = error;
      throw error;
    }
  }
}

/** The HTTP status of a failed request made by google-auth-library (a GaxiosError), if it got an answer. */
function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { response?: { status?: unknown } } | undefined)?.response?.status;
  return typeof status === 'number' ? status : undefined;
}

function localRoutes(baseUrl: string, tokenUri: string | undefined): Record<string, string> {
  const oauth = tokenUri?.startsWith('http://') ? new URL(tokenUri).origin : baseUrl;
  return { [FCM_HOST]: baseUrl, [OAUTH_HOST]: oauth };
}

/**
 * Reads a service account from FCM_SERVICE_ACCOUNT-style input: inline JSON or a file path.
 * Throws ConfigError naming what is missing.
 */
export function loadServiceAccount(pathOrJson: string, setting = 'FCM_SERVICE_ACCOUNT'): FcmServiceAccount {
  let text = pathOrJson.trim();
  if (!text.startsWith('{')) {
    try {
      text = fs.readFileSync(text, 'utf8');
    } catch (error) {
      throw new ConfigError(`${setting}: cannot read service account file ${pathOrJson}: ${describe(error)}`, error);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${setting}: not valid JSON: ${describe(error)}`, error);
  }
  const account = parsed as Partial<FcmServiceAccount> | null;
  for (const field of ['project_id', 'client_email', 'private_key'] as const) {
    if (typeof account?.[field] !== 'string' || account[field] === '') throw new ConfigError(`${setting}: service account has no "${field}"`);
  }
  return account as FcmServiceAccount;
}
