import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import type http from 'node:http';
import { startLocalJsonServer, type JsonReply, type LocalJsonServer } from './local-json-server';

/**
 * A local stand-in for Google's OAuth token endpoint and the FCM v1 send API, for the tests
 * and the demo. It owns a freshly generated service account key: the token endpoint accepts
 * only JWT-bearer assertions signed with it, and the send endpoint only the access tokens it
 * issued, so firebase-admin's real credential and messaging code runs end to end.
 */
export interface CapturedPush {
  token: string;
  notification: { title?: string; body?: string } | undefined;
  data: Record<string, string> | undefined;
  /** The bearer token the send was authorised with. */
  accessToken: string;
  message: Record<string, unknown>;
  receivedAt: Date;
}

export interface TokenGrant {
  accessToken: string;
  claims: { iss: string; aud: string; scope: string; iat: number; exp: number };
}

/**
 * What to answer instead of accepting: a 503 UNAVAILABLE or 429 QUOTA_EXCEEDED send, a 400
 * INVALID_ARGUMENT send, or a token endpoint answering 503.
 */
export type FcmFailure = { kind: 'unavailable' } | { kind: 'quota_exceeded' } | { kind: 'invalid_argument' } | { kind: 'token_endpoint_unavailable' };

/** What the Firebase console hands out, pointed at this server's token endpoint. */
export interface LocalServiceAccount {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
}

const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export class LocalFcm {
  readonly messages: CapturedPush[] = [];
  readonly tokenGrants: TokenGrant[] = [];
  /** Every send request that arrived, accepted or not. */
  sendRequests = 0;
  readonly serviceAccount: LocalServiceAccount;
  private readonly unregistered = new Set<string>();
  private readonly issued = new Set<string>();
  private failure: FcmFailure | undefined;

  private constructor(
    private readonly server: LocalJsonServer,
    private readonly publicKey: KeyObject,
    privateKeyPem: string,
    readonly projectId: string,
  ) {
    this.serviceAccount = {
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKeyPem,
      client_email: `firebase-adminsdk@${projectId}.iam.gserviceaccount.com`,
      client_id: String(Date.now()),
      auth_uri: `${server.url}/auth`,
      token_uri: `${server.url}/token`,
    };
  }

  static async start(options: { projectId?: string; port?: number } = {}): Promise<LocalFcm> {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let local: LocalFcm | undefined;
    // The service account names the server's address, so the server starts first.
    const server = await startLocalJsonServer((req, body) => (local ? local.handle(req, body) : { status: 503, body: {} }), options.port);
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    local = new LocalFcm(server, publicKey, pem, options.projectId ?? `tidings-local-${randomBytes(3).toString('hex')}`);
    return local;
  }

  /** Base URL to use in place of https://fcm.googleapis.com. */
  get url(): string {
    return this.server.url;
  }

  /** The device behind `token` uninstalled the app: sends to it answer UNREGISTERED. */
  unregister(token: string): void {
    this.unregistered.add(token);
  }

  /** Fail every send (or token exchange) from now on; `undefined` accepts again. */
  fail(failure: FcmFailure | undefined): void {
    this.failure = failure;
  }

  to(token: string): CapturedPush[] {
    return this.messages.filter((m) => m.token === token);
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  private handle(req: http.IncomingMessage, body: string): JsonReply {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (req.method === 'POST' && path === '/token') return this.grant(body);
    const send = SEND_PATH.exec(path);
    if (req.method === 'POST' && send) return this.send(send[1], req.headers.authorization, body);
    return fcmError(404, 'NOT_FOUND', 'Not found');
  }

  private grant(body: string): JsonReply {
    if (this.failure?.kind === 'token_endpoint_unavailable') return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'try again later' } };
    const form = new URLSearchParams(body);
    const refuse = (description: string): JsonReply => ({ status: 400, body: { error: 'invalid_grant', error_description: description } });
    if (form.get('grant_type') !== JWT_BEARER) return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'expected a JWT bearer grant' } };
    const parts = (form.get('assertion') ?? '').split('.');
    const [header, payload, signature] = parts;
    if (parts.length !== 3 || !header || !payload || !signature) return refuse('assertion is not a JWT');
    const signed = verify('sha256', Buffer.from(`${header}.${payload}`), this.publicKey, Buffer.from(signature, 'base64url'));
    if (!signed) return refuse('Invalid JWT Signature.');
    const head = decodeJson(header) as { alg?: string } | undefined;
    const claims = decodeJson(payload) as TokenGrant['claims'] | undefined;
    if (head?.alg !== 'RS256' || !claims) return refuse('unsupported JWT');
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.serviceAccount.client_email) return refuse('Invalid issuer');
    if (typeof claims.exp !== 'number' || claims.exp < now) return refuse('Token has expired');
    if (!String(claims.scope).split(' ').includes('https://www.googleapis.com/auth/firebase.messaging')) return refuse('missing FCM scope');
    const accessToken = `ya29.local-${randomBytes(24).toString('base64url')}`;
    this.issued.add(accessToken);
    this.tokenGrants.push({ accessToken, claims });
    return { status: 200, body: { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' } };
  }

  private send(projectId: string | undefined, authorization: string | undefined, body: string): JsonReply {
    this.sendRequests += 1;
    const accessToken = authorization?.startsWith('Bearer ') ? authorization.slice(7) : '';
    if (!this.issued.has(accessToken)) {
      return fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    }
    if (projectId !== this.projectId) return fcmError(403, 'PERMISSION_DENIED', 'Permission denied for this project.', 'SENDER_ID_MISMATCH');
    const parsed = decodeJsonText(body) as { message?: Record<string, unknown> } | undefined;
    const message = parsed?.message;
    const token = message?.token;
    if (!message || typeof token !== 'string' || token === '') {
      return fcmError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT');
    }
    if (this.failure?.kind === 'unavailable') return fcmError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE');
    if (this.failure?.kind === 'quota_exceeded') return fcmError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', 'QUOTA_EXCEEDED');
    // FCM's answer to a malformed token, and (with another message) to a malformed payload.
    if (this.failure?.kind === 'invalid_argument') return fcmError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT');
    if (this.unregistered.has(token)) return fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
    this.messages.push({
      token,
      notification: message.notification as CapturedPush['notification'],
      data: message.data as CapturedPush['data'],
      accessToken,
      message,
      receivedAt: new Date(),
    });
    return { status: 200, body: { name: `projects/${this.projectId}/messages/${randomBytes(8).toString('hex')}` } };
  }
}

/** The FCM v1 error body: a google.rpc.Status, with the FCM error code in its details. */
function fcmError(code: number, status: string, message: string, fcmCode?: string): JsonReply {
  const details = fcmCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: fcmCode }] : [];
  return { status: code, body: { error: { code, message, status, details } } };
}

function decodeJson(segment: string): unknown {
  return decodeJsonText(Buffer.from(segment, 'base64url').toString('utf8'));
}

function decodeJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
