import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cert, deleteApp, initializeApp, type App, type ServiceAccount } from 'firebase-admin/app';
import { getMessaging, type Messaging } from 'firebase-admin/messaging';
import { ConfigError, ProviderError, RecipientUnreachableError, describe } from '../../errors';
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

/** Push notifications through firebase-admin's FCM v1 `messaging.send`. */
export class FcmPushProvider implements Provider {
  readonly name: string;
  readonly channel: ChannelName = 'push';
  private readonly app: App;
  private readonly messaging: Messaging;
  private readonly agent: HostRedirectAgent | undefined;
  private readonly keyDir: string | undefined;

  constructor(options: FcmPushOptions) {
    this.name = options.name ?? 'fcm';
    const account = options.serviceAccount;
    // Several providers (primary, backup, tests) may live in one process: each gets its own app.
    const appName = `tidings-${this.name}-${randomUUID()}`;
    this.agent = options.baseUrl ? new HostRedirectAgent(localRoutes(options.baseUrl, account.token_uri)) : undefined;
    let credential;
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
    this.app = initializeApp({ credential, projectId: options.projectId ?? account.project_id, httpAgent: this.agent }, appName);
    this.messaging = getMessaging(this.app);
  }

  async send(message: OutboundMessage): Promise<ProviderReceipt> {
    try {
      const id = await this.messaging.send({
        token: message.recipient,
        notification: { title: message.title, body: message.text },
        data: message.data,
        // FCM has no idempotency key; collapse/tag keep a re-sent copy from showing twice.
        android: { collapseKey: message.idempotencyKey },
        apns: { headers: { 'apns-collapse-id': message.idempotencyKey.slice(0, 64) } },
      });
      return { providerMessageId: id };
    } catch (error) {
      throw this.classify(error, message.recipient);
    }
  }

  async close(): Promise<void> {
    await deleteApp(this.app);
    this.agent?.destroy();
    if (this.keyDir) fs.rmSync(this.keyDir, { recursive: true, force: true });
  }

  private classify(error: unknown, recipient: string): Error {
    const code = (error as { code?: unknown }).code;
    const detail = describe(error);
    if (typeof code !== 'string') return new ProviderError(this.name, `send failed: ${detail}`, { retriable: true, cause: error });
    switch (code) {
      case 'messaging/registration-token-not-registered':
      case 'messaging/invalid-registration-token':
        return new RecipientUnreachableError(this.name, recipient, `push token is not registered (${code})`, error);
      case 'messaging/invalid-argument':
        // FCM reports a malformed token as INVALID_ARGUMENT too; only its message tells it
        // from a bad payload, which must not kill the token.
        return /registration token|message\.token/i.test(detail)
          ? new RecipientUnreachableError(this.name, recipient, `push token is invalid (${code})`, error)
          : new ProviderError(this.name, `${code}: ${detail}`, { retriable: false, cause: error });
      case 'messaging/message-rate-exceeded':
      case 'messaging/device-message-rate-exceeded':
      case 'messaging/server-unavailable':
      case 'messaging/internal-error':
      case 'messaging/unknown-error':
      case 'app/network-error':
      case 'app/network-timeout':
        return new ProviderError(this.name, `${code}: ${detail}`, { retriable: true, cause: error });
      case 'app/invalid-credential':
        // firebase-admin flattens the token exchange's failure into this one code: an OAuth
        // refusal is a configuration problem, anything else (no answer, 5xx) may pass.
        return new ProviderError(this.name, `${code}: ${detail}`, {
          retriable: !/invalid_grant|invalid_client|unauthorized_client|access_denied/.test(detail),
          cause: error,
        });
      default:
        // authentication-error, third-party-auth-error, mismatched-credential, invalid payloads.
        return new ProviderError(this.name, `${code}: ${detail}`, { retriable: false, cause: error });
    }
  }
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
