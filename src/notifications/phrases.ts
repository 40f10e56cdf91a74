/**
 * Enum symbols in words, for every channel. Keyed by the generated enum types, so adding
 * a symbol to a schema fails compilation until it has wording here.
 */
import type {
  AccountLockReason,
  BillingInterval,
  CancellationInitiator,
  DisputeReason,
  LoginAlertSeverity,
  PaymentFailureReason,
  SignupMethod,
  TwoFactorMethod,
  UnlockMethod,
  PAYMENT_EVENT_TYPES,
} from '../events/generated';

type PaymentEventType = (typeof PAYMENT_EVENT_TYPES)[number];

type PhraseBook = {
  PaymentFailureReason: Record<PaymentFailureReason, string>;
  LoginAlertSeverity: Record<LoginAlertSeverity, string>;
  AccountLockReason: Record<AccountLockReason, string>;
  UnlockMethod: Record<UnlockMethod, string>;
  TwoFactorMethod: Record<TwoFactorMethod, string>;
  SignupMethod: Record<SignupMethod, string>;
  DisputeReason: Record<DisputeReason, string>;
  CancellationInitiator: Record<CancellationInitiator, string>;
  BillingInterval: Record<BillingInterval, string>;
  /** A payment event as one line of the daily digest. */
  DigestEntry: Record<PaymentEventType, string>;
};

export const PHRASES: PhraseBook = {
  PaymentFailureReason: {
    INSUFFICIENT_FUNDS: 'your bank reported insufficient funds on the card',
    CARD_EXPIRED: 'the card has expired',
    CARD_DECLINED: 'your bank declined the charge',
    INCORRECT_CVC: 'the security code (CVC) did not match',
    PROCESSING_ERROR: 'a temporary error occurred while processing the card',
    FRAUD_SUSPECTED: 'the charge was blocked as potentially fraudulent',
    AUTHENTICATION_REQUIRED: 'your bank requires you to confirm the payment',
    UNKNOWN: 'the payment was not approved',
  },
  LoginAlertSeverity: {
    LOW: 'Low risk',
    MEDIUM: 'Medium risk',
    HIGH: 'High risk',
  },
  AccountLockReason: {
    TOO_MANY_FAILED_LOGINS: 'too many unsuccessful sign-in attempts',
    SUSPICIOUS_ACTIVITY: 'suspicious activity on the account',
    ADMINISTRATIVE: 'a decision by our support team',
    PAYMENT_FRAUD: 'suspected payment fraud',
  },
  UnlockMethod: {
    TIMEOUT: 'the temporary lock expired',
    PASSWORD_RESET: 'you reset your password',
    SUPPORT_AGENT: 'our support team unlocked it',
  },
  TwoFactorMethod: {
    TOTP: 'an authenticator app',
    SMS: 'text message codes',
    WEBAUTHN: 'a security key or passkey',
  },
  SignupMethod: {
    PASSWORD: 'email and password',
    GOOGLE: 'your Google account',
    APPLE: 'your Apple ID',
    GITHUB: 'your GitHub account',
    SSO: 'your organisation’s single sign-on',
  },
  DisputeReason: {
    FRAUDULENT: 'the cardholder does not recognise the charge as theirs',
    PRODUCT_NOT_RECEIVED: 'the order was reported as not received',
    PRODUCT_UNACCEPTABLE: 'the order was reported as defective or not as described',
    DUPLICATE: 'the charge was reported as a duplicate',
    SUBSCRIPTION_CANCELED: 'the subscription was reported as already cancelled',
    CREDIT_NOT_PROCESSED: 'a promised refund was reported as not received',
    UNRECOGNIZED: 'the charge was not recognised on the statement',
    GENERAL: 'the card issuer did not give a specific reason',
  },
  CancellationInitiator: {
    CUSTOMER: 'at your request',
    MERCHANT: 'by us',
    PAYMENT_FAILURE: 'because renewal payments failed',
  },
  BillingInterval: {
    MONTH: 'month',
    YEAR: 'year',
  },  DigestEntry: {
    PAYMENT_SUCCEEDED: 'Payment',
    SUBSCRIPTION_RENEWED: 'Subscription renewal',
    REFUND_PROCESSED: 'Refund',
    PAYMENT_FAILED: 'Failed payment (not charged)',
    PAYMENT_DISPUTED: 'Dispute opened',
    INVOICE_GENERATED: 'Invoice issued',
    SUBSCRIPTION_CREATED: 'Subscription started',
    SUBSCRIPTION_CANCELLED: 'Subscription cancelled',
  },
};

export type PhraseGroup = keyof PhraseBook;

/** Words for `symbol` of enum `group`; throws for anything unknown so a template bug is loud. */
export function phrase(group: string, symbol: string): string {
  const book: Partial<Record<string, Readonly<Record<string, string>>>> = PHRASES;
  const words = book[group]?.[symbol];
  if (words === undefined) throw new Error(`no phrase for ${group}.${symbol}`);
  return words;
}
