/**
 * GENERATED from the Avro schemas in schemas/ by scripts/gen-types.ts — do not edit.
 * Regenerate with `npm run gen:types`.
 */

/**
 * The device and network an account action came from, shown to users so they can recognise it.
 * Avro: tidings.common.ClientContext
 */
export interface ClientContext {
  /** Client IP address (IPv4 or IPv6). (format: ip; personal data: masked in operator views) */
  ip: string;
  /** Raw User-Agent header of the client; with the IP it can single a person out. (personal data: masked in operator views) */
  user_agent: string;
  /** Approximate location from IP geolocation, e.g. "Lisbon, Portugal"; null when unknown. (personal data: masked in operator views) */
  location?: string | null;
}

/**
 * Who a notification goes to and how to address them.
 * Avro: tidings.common.Contact
 */
export interface Contact {
  /** Delivery address for email notifications. (format: email; personal data: masked in operator views) */
  email: string;
  /** Display name used in greetings; null when the user has not given one. (personal data: masked in operator views) */
  name?: string | null;
  /** Mobile number in E.164 form (+14155550123) for SMS; null when unknown. (format: e164; personal data: masked in operator views) */
  phone?: string | null;
  /** BCP 47 language tag used to format amounts, dates and copy. (format: bcp47) */
  locale?: string;
  /** IANA time zone used to show dates in the recipient's local time. (format: iana_time_zone) */
  time_zone?: string;
}

/**
 * One line of an order or invoice. Amounts are in the currency of the enclosing event's amount.
 * Avro: tidings.common.LineItem
 */
export interface LineItem {
  /** Merchant stock-keeping unit. */
  sku: string;
  /** Human-readable item description shown on receipts. */
  description: string;
  /** Number of units. (>= 1) */
  quantity: number;
  /** Price of one unit in minor units of the enclosing event's currency. (>= 0) */
  unit_amount_minor: number;
}

/**
 * An amount of money as integer minor units (cents, yen, fils) of an ISO-4217 currency; never a float.
 * Avro: tidings.common.Money
 */
export interface Money {
  /** Amount in the currency's minor units: 1999 USD is $19.99, 1999 JPY is ¥1,999, 1999 BHD is 1.999 BD. (>= 0) */
  amount_minor: number;
  /** Upper-case ISO-4217 currency code, e.g. EUR. (format: iso4217) */
  currency: string;
}

/**
 * Why a payment or renewal charge did not go through. Readers that do not know a newer symbol fall back to UNKNOWN.
 * Avro: tidings.common.PaymentFailureReason
 */
export type PaymentFailureReason = 'INSUFFICIENT_FUNDS' | 'CARD_EXPIRED' | 'CARD_DECLINED' | 'INCORRECT_CVC' | 'PROCESSING_ERROR' | 'FRAUD_SUSPECTED' | 'AUTHENTICATION_REQUIRED' | 'UNKNOWN';

/**
 * The plan a subscription is on.
 * Avro: tidings.common.SubscriptionPlan
 */
export interface SubscriptionPlan {
  /** Stable plan identifier, e.g. pro-monthly. */
  plan_id: string;
  /** Plan name shown to customers, e.g. Pro. */
  name: string;
  /** Billing period. */
  interval: BillingInterval;
  /** Price charged each billing period. */
  price: Money;
}

/**
 * How often the plan bills.
 * Avro: tidings.common.BillingInterval
 */
export type BillingInterval = 'MONTH' | 'YEAR';

/**
 * The account was locked; sign-ins are refused until it is unlocked.
 * Avro: tidings.auth.AccountLocked
 */
export interface AccountLocked {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** Why the account was locked. */
  reason: AccountLockReason;
  /** Consecutive failed sign-ins that triggered the lock, for TOO_MANY_FAILED_LOGINS. (>= 1) */
  failed_attempts?: number | null;
  /** When the lock lifts on its own; null when only support can unlock it. (epoch milliseconds) */
  locked_until?: number | null;
  /** Where the user can get help unlocking the account. (format: url) */
  support_url: string;
}

/**
 * Why the account was locked.
 * Avro: tidings.auth.AccountLockReason
 */
export type AccountLockReason = 'TOO_MANY_FAILED_LOGINS' | 'SUSPICIOUS_ACTIVITY' | 'ADMINISTRATIVE' | 'PAYMENT_FRAUD';

/**
 * A locked account was unlocked and can sign in again.
 * Avro: tidings.auth.AccountUnlocked
 */
export interface AccountUnlocked {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** What lifted the lock. */
  unlocked_by: UnlockMethod;
}

/**
 * What lifted the lock.
 * Avro: tidings.auth.UnlockMethod
 */
export type UnlockMethod = 'TIMEOUT' | 'PASSWORD_RESET' | 'SUPPORT_AGENT';

/**
 * The user must confirm they own an email address.
 * Avro: tidings.auth.EmailVerificationRequested
 */
export interface EmailVerificationRequested {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** Single-use confirmation link; a secret, never log it. (format: url; personal data: masked in operator views) */
  verification_url: string;
  /** When the confirmation link stops working. (epoch milliseconds) */
  expires_at: number;
}

/**
 * A sign-in looked unusual (new device, new country, impossible travel).
 * Avro: tidings.auth.LoginAlert
 */
export interface LoginAlert {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** Risk level; HIGH alerts are also sent by SMS. */
  severity: LoginAlertSeverity;
  /** Why the sign-in was flagged, in words, e.g. "Sign-in from a new country". */
  alert_reason: string;
  /** Where the user can review sessions and change their password. (format: url) */
  secure_account_url: string;
}

/**
 * How confident risk scoring is that the sign-in was not the account owner.
 * Avro: tidings.auth.LoginAlertSeverity
 */
export type LoginAlertSeverity = 'LOW' | 'MEDIUM' | 'HIGH';

/**
 * The user asked to reset a forgotten password.
 * Avro: tidings.auth.PasswordResetRequested
 */
export interface PasswordResetRequested {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** Single-use link to the password reset form; a secret, never log it. (format: url; personal data: masked in operator views) */
  reset_url: string;
  /** When the reset link stops working. (epoch milliseconds) */
  expires_at: number;
}

/**
 * Two-factor authentication was turned on for the account.
 * Avro: tidings.auth.TwoFactorEnabled
 */
export interface TwoFactorEnabled {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** Second factor the user enrolled. */
  method: TwoFactorMethod;
  /** Unused one-time backup codes the user holds. (>= 0) */
  backup_codes_remaining?: number;
}

/**
 * Second factor the user enrolled.
 * Avro: tidings.auth.TwoFactorMethod
 */
export type TwoFactorMethod = 'TOTP' | 'SMS' | 'WEBAUTHN';

/**
 * A new account was created.
 * Avro: tidings.auth.UserRegistered
 */
export interface UserRegistered {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Device and network the action came from. */
  client: ClientContext;
  /** Credential the user signed up with. */
  signup_method: SignupMethod;
  /** True when the identity provider already verified the email address. */
  email_verified?: boolean;
}

/**
 * How the account was created.
 * Avro: tidings.auth.SignupMethod
 */
export type SignupMethod = 'PASSWORD' | 'GOOGLE' | 'APPLE' | 'GITHUB' | 'SSO';

/**
 * An invoice was issued and is awaiting payment.
 * Avro: tidings.payment.InvoiceGenerated
 */
export interface InvoiceGenerated {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Invoice number shown to the customer. */
  invoice_id: string;
  /** Hosted invoice page (view, download, pay). (format: url) */
  invoice_url: string;
  /** Subscription billed, if the invoice is for one. */
  subscription_id?: string | null;
  /** Total due. */
  amount: Money;
  /** Payment due date. (epoch milliseconds) */
  due_at: number;
  /** What was bought, in the currency of amount. */
  items?: LineItem[];
}

/**
 * The cardholder disputed a charge with their bank (a chargeback).
 * Avro: tidings.payment.PaymentDisputed
 */
export interface PaymentDisputed {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Processor id of the dispute. */
  dispute_id: string;
  /** Payment processor id of the charge. */
  payment_id: string;
  /** Merchant order the payment belongs to; null for payments outside an order. */
  order_id?: string | null;
  /** Amount under dispute. */
  amount: Money;
  /** Last four digits of the card; null for non-card methods. Never the full card number. (format: digits4) */
  card_last4?: string | null;
  /** Reason code the card network reported. */
  reason: DisputeReason;
  /** Deadline for responding with evidence; null when no response is possible. (epoch milliseconds) */
  evidence_due_at?: number | null;
}

/**
 * Reason code the card network reported.
 * Avro: tidings.payment.DisputeReason
 */
export type DisputeReason = 'FRAUDULENT' | 'PRODUCT_NOT_RECEIVED' | 'PRODUCT_UNACCEPTABLE' | 'DUPLICATE' | 'SUBSCRIPTION_CANCELED' | 'CREDIT_NOT_PROCESSED' | 'UNRECOGNIZED' | 'GENERAL';

/**
 * A charge was attempted and did not go through.
 * Avro: tidings.payment.PaymentFailed
 */
export interface PaymentFailed {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Payment processor id of the charge. */
  payment_id: string;
  /** Merchant order the payment belongs to; null for payments outside an order. */
  order_id?: string | null;
  /** Amount that could not be charged. */
  amount: Money;
  /** Last four digits of the card; null for non-card methods. Never the full card number. (format: digits4) */
  card_last4?: string | null;
  /** Normalised decline reason. */
  reason: PaymentFailureReason;
  /** Processor's decline message, for support staff. */
  message: string;
  /** Where the customer can change their payment method. (format: url) */
  update_payment_url?: string | null;
}

/**
 * A charge was captured.
 * Avro: tidings.payment.PaymentSucceeded
 */
export interface PaymentSucceeded {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Payment processor id of the charge. */
  payment_id: string;
  /** Merchant order the payment belongs to; null for payments outside an order. */
  order_id?: string | null;
  /** Amount charged. */
  amount: Money;
  /** Last four digits of the card; null for non-card methods. Never the full card number. (format: digits4) */
  card_last4?: string | null;
  /** Hosted receipt page, if the merchant has one. (format: url) */
  receipt_url?: string | null;
  /** What was bought, in the currency of amount. */
  items?: LineItem[];
}

/**
 * Money was returned to the customer.
 * Avro: tidings.payment.RefundProcessed
 */
export interface RefundProcessed {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Processor id of the refund. */
  refund_id: string;
  /** Payment processor id of the charge. */
  payment_id: string;
  /** Merchant order the payment belongs to; null for payments outside an order. */
  order_id?: string | null;
  /** Amount refunded (may be less than the original charge). */
  amount: Money;
  /** Last four digits of the card; null for non-card methods. Never the full card number. (format: digits4) */
  card_last4?: string | null;
  /** Why the refund was issued, if recorded. */
  reason?: string | null;
  /** What was bought, in the currency of amount. */
  items?: LineItem[];
}

/**
 * A subscription was cancelled.
 * Avro: tidings.payment.SubscriptionCancelled
 */
export interface SubscriptionCancelled {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Subscription identifier. */
  subscription_id: string;
  /** Plan the subscription is on. */
  plan: SubscriptionPlan;
  /** Who ended the subscription. */
  cancelled_by: CancellationInitiator;
  /** Free-text reason given, if any. */
  reason?: string | null;
  /** When paid access ends (end of the current period, or now). (epoch milliseconds) */
  access_ends_at: number;
}

/**
 * Who ended the subscription.
 * Avro: tidings.payment.CancellationInitiator
 */
export type CancellationInitiator = 'CUSTOMER' | 'MERCHANT' | 'PAYMENT_FAILURE';

/**
 * A customer started a subscription.
 * Avro: tidings.payment.SubscriptionCreated
 */
export interface SubscriptionCreated {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Subscription identifier. */
  subscription_id: string;
  /** Plan the subscription is on. */
  plan: SubscriptionPlan;
  /** Last four digits of the card; null for non-card methods. Never the full card number. (format: digits4) */
  card_last4?: string | null;
  /** End of the free trial; null when there is no trial. (epoch milliseconds) */
  trial_ends_at?: number | null;
  /** When the first (or next) charge happens. (epoch milliseconds) */
  renews_at: number;
}

/**
 * A subscription was charged for a new billing period.
 * Avro: tidings.payment.SubscriptionRenewed
 */
export interface SubscriptionRenewed {
  /** Unique id of this event; consumers deduplicate on it. (UUID) */
  event_id: string;
  /** Account the event is about; also the Kafka message key, so one user's events stay ordered. */
  user_id: string;
  /** When it happened. (epoch milliseconds) */
  occurred_at: number;
  /** Who is notified about it. */
  recipient: Contact;
  /** Subscription identifier. */
  subscription_id: string;
  /** Plan the subscription is on. */
  plan: SubscriptionPlan;
  /** Payment processor id of the charge. */
  payment_id: string;
  /** Amount charged for this period. */
  amount: Money;
  /** Last four digits of the card; null for non-card methods. Never the full card number. (format: digits4) */
  card_last4?: string | null;
  /** When the next renewal charge happens. (epoch milliseconds) */
  renews_at: number;
}

export type EventType =
  | 'ACCOUNT_LOCKED'
  | 'ACCOUNT_UNLOCKED'
  | 'EMAIL_VERIFICATION_REQUESTED'
  | 'LOGIN_ALERT'
  | 'PASSWORD_RESET_REQUESTED'
  | 'TWO_FACTOR_ENABLED'
  | 'USER_REGISTERED'
  | 'INVOICE_GENERATED'
  | 'PAYMENT_DISPUTED'
  | 'PAYMENT_FAILED'
  | 'PAYMENT_SUCCEEDED'
  | 'REFUND_PROCESSED'
  | 'SUBSCRIPTION_CANCELLED'
  | 'SUBSCRIPTION_CREATED'
  | 'SUBSCRIPTION_RENEWED';

export interface EventMap {
  ACCOUNT_LOCKED: AccountLocked;
  ACCOUNT_UNLOCKED: AccountUnlocked;
  EMAIL_VERIFICATION_REQUESTED: EmailVerificationRequested;
  LOGIN_ALERT: LoginAlert;
  PASSWORD_RESET_REQUESTED: PasswordResetRequested;
  TWO_FACTOR_ENABLED: TwoFactorEnabled;
  USER_REGISTERED: UserRegistered;
  INVOICE_GENERATED: InvoiceGenerated;
  PAYMENT_DISPUTED: PaymentDisputed;
  PAYMENT_FAILED: PaymentFailed;
  PAYMENT_SUCCEEDED: PaymentSucceeded;
  REFUND_PROCESSED: RefundProcessed;
  SUBSCRIPTION_CANCELLED: SubscriptionCancelled;
  SUBSCRIPTION_CREATED: SubscriptionCreated;
  SUBSCRIPTION_RENEWED: SubscriptionRenewed;
}

/** One event with its type, narrowed by `type`. */
export type TypedEvent = { [K in EventType]: { type: K; event: EventMap[K] } }[EventType];

export const AUTH_EVENT_TYPES = [
  'ACCOUNT_LOCKED',
  'ACCOUNT_UNLOCKED',
  'EMAIL_VERIFICATION_REQUESTED',
  'LOGIN_ALERT',
  'PASSWORD_RESET_REQUESTED',
  'TWO_FACTOR_ENABLED',
  'USER_REGISTERED',
] as const;

export const PAYMENT_EVENT_TYPES = [
  'INVOICE_GENERATED',
  'PAYMENT_DISPUTED',
  'PAYMENT_FAILED',
  'PAYMENT_SUCCEEDED',
  'REFUND_PROCESSED',
  'SUBSCRIPTION_CANCELLED',
  'SUBSCRIPTION_CREATED',
  'SUBSCRIPTION_RENEWED',
] as const;

export const EVENT_TYPES: readonly EventType[] = [...AUTH_EVENT_TYPES, ...PAYMENT_EVENT_TYPES];
