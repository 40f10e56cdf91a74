/**
 * Typed errors. Every error Tidings raises carries a stable `code`, whether retrying the
 * same work can succeed (`retriable`) and the underlying `cause`. Failure routing (retry,
 * DLQ, pause) is decided from these types, never from message strings.
 */
export class TidingsError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Bad configuration or environment; raised at start-up, names the offending setting. */
export class ConfigError extends TidingsError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG_INVALID', message, { cause });
  }
}

/** An event that does not satisfy its schema or business rules. `field` is its dotted path. */
export class EventValidationError extends TidingsError {
  readonly eventType: string;
  readonly field: string;
  readonly reason: string;

  constructor(eventType: string, field: string, reason: string) {
    super('EVENT_INVALID', `${eventType}: field "${field}" ${reason}`);
    this.eventType = eventType;
    this.field = field;
    this.reason = reason;
  }
}

/** An event type the catalog does not know. */
export class UnknownEventTypeError extends TidingsError {
  constructor(eventType: string) {
    super('EVENT_TYPE_UNKNOWN', `unknown event type "${eventType}"`);
  }
}

/** Bytes on a topic that cannot be turned into an event (wrong magic byte, unknown schema, garbage). */
export class MalformedMessageError extends TidingsError {
  constructor(message: string, cause?: unknown) {
    super('MESSAGE_MALFORMED', message, { cause });
  }
}

/** A notification template that cannot be rendered: retrying will not help. */
export class TemplateRenderError extends TidingsError {
  constructor(template: string, cause?: unknown) {
    super('TEMPLATE_RENDER_FAILED', `template "${template}" failed to render: ${describe(cause)}`, { cause });
  }
}

/** A provider (SMTP, Twilio, FCM) failed in a way that may succeed later. */
export class ProviderError extends TidingsError {
  readonly provider: string;
  /**
   * `recipient`: the provider answered, about one address (an SMTP 4xx to RCPT TO, a full
   * mailbox); it says nothing about the provider's health, so it never opens its circuit.
   */
  readonly scope: 'provider' | 'recipient';

  constructor(provider: string, message: string, options: { retriable: boolean; cause?: unknown; scope?: 'provider' | 'recipient' }) {
    super(options.retriable ? 'PROVIDER_UNAVAILABLE' : 'PROVIDER_REJECTED', `${provider}: ${message}`, options);
    this.provider = provider;
    this.scope = options.scope ?? 'provider';
  }
}

/** The schema registry could not be reached or refused a request. */
export class RegistryError extends TidingsError {
  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super('REGISTRY_FAILED', message, options);
  }
}

/** Starting, stopping or probing the local development stack failed. */
export class StackError extends TidingsError {
  constructor(message: string, cause?: unknown) {
    super('STACK_FAILED', message, { cause });
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The broker did not acknowledge a publish after the client's retries. `retriable` is that of
 * the cause (a refused record is not; an unreachable broker is); default true.
 */
export class PublishError extends TidingsError {
  constructor(message: string, cause?: unknown, options: { retriable?: boolean } = {}) {
    super('PUBLISH_FAILED', message, { retriable: options.retriable ?? true, cause });
  }
}

/** The address itself is dead (an unregistered push token, a number that cannot receive SMS): never retried. */
export class RecipientUnreachableError extends TidingsError {
  readonly provider: string;
  readonly recipient: string;

  constructor(provider: string, recipient: string, message: string, cause?: unknown) {
    super('RECIPIENT_UNREACHABLE', `${provider}: ${message}`, { cause });
    this.provider = provider;
    this.recipient = recipient;
  }
}

/** Every provider of a channel failed (or had its circuit open); keeps each attempt's error. */
export class AllProvidersFailedError extends TidingsError {
  readonly attempts: ReadonlyArray<{ provider: string; error: unknown }>;

  constructor(channel: string, attempts: ReadonlyArray<{ provider: string; error: unknown }>) {
    const retriable = attempts.some((a) => !(a.error instanceof TidingsError) || a.error.retriable);
    super(
      retriable ? 'PROVIDERS_UNAVAILABLE' : 'PROVIDERS_REJECTED',
      `${channel}: all providers failed (${attempts.map((a) => `${a.provider}: ${describe(a.error)}`).join('; ')})`,
      { retriable, cause: attempts[attempts.length - 1]?.error },
    );
    this.attempts = attempts;
  }
}

/** An HTTP API request whose parameters, query or body are invalid; `field` names the first bad one. */
export class RequestValidationError extends TidingsError {
  readonly field: string;
  readonly issues: ReadonlyArray<{ field: string; message: string }>;

  constructor(issues: ReadonlyArray<{ field: string; message: string }>) {
    super('REQUEST_INVALID', issues.map((i) => `${i.field}: ${i.message}`).join('; '));
    this.field = issues[0]?.field ?? '';
    this.issues = issues;
  }
}

/**
 * A user's data key cannot be had right now: the key-encryption key is not the one that
 * wrapped it, the KMS did not answer, or its row is missing. Work pauses (retriable): the
 * data is not bad, the configuration or the KMS is.
 */
export class KeyUnavailableError extends TidingsError {
  constructor(message: string, cause?: unknown) {
    super('KEY_UNAVAILABLE', message, { retriable: true, cause });
  }
}

/** The user's data key was destroyed by a GDPR erasure: their sealed personal data can never be read again. */
export class UserErasedError extends TidingsError {
  readonly keyId: string;

  constructor(keyId: string) {
    super('USER_ERASED', `data key ${keyId} was destroyed by an erasure`);
    this.keyId = keyId;
  }
}

/**
 * An event holding card data: a card number in any string field, or a field named like a
 * card's security code, a password, a secret or a full token (src/events/card-data.ts). The
 * SDK refuses it before anything is sent; a consumer dead-letters it with the value masked.
 * `field` is the first offending path and `fields` all of them; the value is never repeated.
 */
export class CardDataError extends EventValidationError {
  override readonly code: string = 'CARD_DATA_REFUSED';
  readonly fields: readonly string[];

  constructor(eventType: string, findings: ReadonlyArray<{ path: string; reason: string }>) {
    const [first, ...rest] = findings;
    const more = rest.length === 0 ? '' : ` (and ${rest.map((f) => `"${f.path}"`).join(', ')})`;
    super(eventType, first?.path ?? '(event)', `${first?.reason ?? 'holds card data'}${more}; card data must never be sent`);
    this.fields = findings.map((f) => f.path);
  }
}

/**
 * The broker refused the client's SASL login (wrong username or password, or a mechanism it
 * does not offer). A configuration problem: retrying with the same credentials cannot succeed,
 * so a process refuses to start. Names the settings to check, never the password.
 */
export class KafkaAuthenticationError extends ConfigError {
  override readonly code: string = 'KAFKA_AUTHENTICATION_FAILED';
  readonly username: string | undefined;

  constructor(message: string, username: string | undefined, cause?: unknown) {
    super(message, cause);
    this.username = username;
  }
}

/**
 * The broker's ACLs do not let this client's principal do what it asked (write to a topic):
 * not retriable, since only a change of ACLs or of credentials helps. `topics` are those of the
 * refused request and `principal` who asked (e.g. `User:auth-producer`).
 */
export class KafkaAuthorizationError extends TidingsError {
  readonly topics: readonly string[];
  readonly principal: string;

  constructor(message: string, details: { topics: readonly string[]; principal: string }, cause?: unknown) {
    super('KAFKA_NOT_AUTHORIZED', message, { retriable: false, cause });
    this.topics = details.topics;
    this.principal = details.principal;
  }
}
