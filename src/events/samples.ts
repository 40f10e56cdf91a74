/**
 * Realistic, valid sample events for the demo, tests and benchmarks. A seeded `rng` makes
 * everything except event ids and timestamps reproducible.
 */
import { randomUUID } from 'node:crypto';
import type { ClientContext, Contact, EventMap, EventType, LineItem, Money, SubscriptionPlan, TypedEvent } from './generated';

/** Returns a float in [0, 1), like Math.random. */
export type Rng = () => number;

/** Small deterministic PRNG (mulberry32) so benchmarks and tests can replay the same stream. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Persona {
  first: string;
  last: string;
  locale: string;
  timeZone: string;
  currency: string;
  phone: string;
  city: string;
}

const PERSONAS: readonly Persona[] = [
  { first: 'Ada', last: 'Lovelace', locale: 'en-GB', timeZone: 'Europe/London', currency: 'GBP', phone: '+447700900123', city: 'London, United Kingdom' },
  { first: 'Grace', last: 'Hopper', locale: 'en-US', timeZone: 'America/New_York', currency: 'USD', phone: '+12125550142', city: 'New York, United States' },
  { first: 'Emmy', last: 'Noether', locale: 'de-DE', timeZone: 'Europe/Berlin', currency: 'EUR', phone: '+4915123456789', city: 'Berlin, Germany' },
  { first: 'Hedy', last: 'Lamarr', locale: 'fr-FR', timeZone: 'Europe/Paris', currency: 'EUR', phone: '+33612345678', city: 'Paris, France' },
  { first: 'Yuki', last: 'Tanaka', locale: 'ja-JP', timeZone: 'Asia/Tokyo', currency: 'JPY', phone: '+819012345678', city: 'Tokyo, Japan' },
  { first: 'Katherine', last: 'Johnson', locale: 'en-US', timeZone: 'America/Los_Angeles', currency: 'USD', phone: '+14155550123', city: 'San Francisco, United States' },
  { first: 'Mariam', last: 'Al-Khalifa', locale: 'en-BH', timeZone: 'Asia/Bahrain', currency: 'BHD', phone: '+97336001234', city: 'Manama, Bahrain' },
];

const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
];

const UNUSUAL_LOCATIONS = ['São Paulo, Brazil', 'Lagos, Nigeria', 'Jakarta, Indonesia', 'Kyiv, Ukraine', 'Hanoi, Vietnam'];

/** Catalogue prices in major units; converted with the currency's own minor-unit scale. */
const PRODUCTS: ReadonlyArray<{ sku: string; description: string; price: number }> = [
  { sku: 'BK-PRAG-PROG', description: 'The Pragmatic Programmer (hardcover)', price: 42 },
  { sku: 'KB-MX-BROWN', description: 'Mechanical keyboard, brown switches', price: 129 },
  { sku: 'CBL-USBC-2M', description: 'USB-C cable, 2 m', price: 12.5 },
  { sku: 'MUG-TIDINGS', description: 'Tidings enamel mug', price: 18 },
  { sku: 'HP-NC-700', description: 'Noise-cancelling headphones', price: 279 },
  { sku: 'STK-PACK-10', description: 'Sticker pack (10)', price: 6 },
];

const PLANS: ReadonlyArray<{ plan_id: string; name: string; interval: SubscriptionPlan['interval']; price: number }> = [
  { plan_id: 'starter-monthly', name: 'Starter', interval: 'MONTH', price: 9 },
  { plan_id: 'pro-monthly', name: 'Pro', interval: 'MONTH', price: 29 },
  { plan_id: 'pro-yearly', name: 'Pro (annual)', interval: 'YEAR', price: 290 },
];

const DAY = 86_400_000;

function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function minorScale(currency: string): number {
  return 10 ** (new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2);
}

/** Converts a price quoted in major units into integer minor units, roughly at par (realism, not FX accuracy). */
function toMinor(major: number, currency: string): number {
  const rate = currency === 'JPY' ? 150 : currency === 'BHD' ? 0.38 : 1;
  return Math.round(major * rate * minorScale(currency));
}

function hex(rng: Rng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += Math.floor(rng() * 16).toString(16);
  return out;
}

function digits(rng: Rng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += Math.floor(rng() * 10).toString();
  return out;
}

interface Context {
  rng: Rng;
  userIndex: number;
  persona: Persona;
  now: number;
}

function userId(index: number): string {
  return `usr_${String(index).padStart(6, '0')}`;
}

function recipient(ctx: Context): Contact {
  const { persona, userIndex } = ctx;
  return {
    email: `${persona.first}.${persona.last}+${userIndex}@example.com`.toLowerCase(),
    name: `${persona.first} ${persona.last}`,
    phone: persona.phone,
    locale: persona.locale,
    time_zone: persona.timeZone,
  };
}

function client(ctx: Context, location = ctx.persona.city): ClientContext {
  const { rng } = ctx;
  const ip =
    rng() < 0.8
      ? `203.0.113.${1 + Math.floor(rng() * 254)}`
      : `2001:db8:${hex(rng, 4)}::${hex(rng, 2)}`;
  return { ip, user_agent: pick(rng, USER_AGENTS), location };
}

function header(ctx: Context): Pick<EventMap['PAYMENT_SUCCEEDED'], 'event_id' | 'user_id' | 'occurred_at' | 'recipient'> {
  return { event_id: randomUUID(), user_id: userId(ctx.userIndex), occurred_at: ctx.now, recipient: recipient(ctx) };
}

function money(amountMinor: number, currency: string): Money {
  return { amount_minor: amountMinor, currency };
}

function basket(ctx: Context): { items: LineItem[]; amount: Money } {
  const { rng, persona } = ctx;
  const count = 1 + Math.floor(rng() * 3);
  const items: LineItem[] = [];
  for (let i = 0; i < count; i++) {
    const product = pick(rng, PRODUCTS);
    items.push({
      sku: product.sku,
      description: product.description,
      quantity: 1 + Math.floor(rng() * 2),
      unit_amount_minor: toMinor(product.price, persona.currency),
    });
  }
  const total = items.reduce((sum, item) => sum + item.quantity * item.unit_amount_minor, 0);
  return { items, amount: money(total, persona.currency) };
}

function plan(ctx: Context): SubscriptionPlan {
  const chosen = pick(ctx.rng, PLANS);
  return {
    plan_id: chosen.plan_id,
    name: chosen.name,
    interval: chosen.interval,
    price: money(toMinor(chosen.price, ctx.persona.currency), ctx.persona.currency),
  };
}

function period(p: SubscriptionPlan): number {
  return p.interval === 'YEAR' ? 365 * DAY : 30 * DAY;
}

const cardLast4 = (ctx: Context): string => digits(ctx.rng, 4);
const paymentId = (ctx: Context): string => `pay_${hex(ctx.rng, 16)}`;
const orderId = (ctx: Context): string => `ord_${digits(ctx.rng, 8)}`;
const subscriptionId = (ctx: Context): string => `sub_${hex(ctx.rng, 12)}`;
const token = (ctx: Context): string => hex(ctx.rng, 32);

const BUILDERS: { [K in EventType]: (ctx: Context) => EventMap[K] } = {
  USER_REGISTERED: (ctx) => ({
    ...header(ctx),
    client: client(ctx),
    signup_method: pick(ctx.rng, ['PASSWORD', 'PASSWORD', 'GOOGLE', 'APPLE', 'GITHUB'] as const),
    email_verified: false,
  }),
  PASSWORD_RESET_REQUESTED: (ctx) => ({
    ...header(ctx),
    client: client(ctx),
    reset_url: `https://app.tidings.example/reset-password?token=${token(ctx)}`,
    expires_at: ctx.now + 60 * 60 * 1000,
  }),
  LOGIN_ALERT: (ctx) => ({
    ...header(ctx),
    client: client(ctx, pick(ctx.rng, UNUSUAL_LOCATIONS)),
    severity: pick(ctx.rng, ['LOW', 'MEDIUM', 'HIGH'] as const),
    alert_reason: pick(ctx.rng, ['Sign-in from a new country', 'Sign-in from a new device', 'Impossible travel since your last sign-in']),
    secure_account_url: 'https://app.tidings.example/settings/security',
  }),
  ACCOUNT_LOCKED: (ctx) => ({
    ...header(ctx),
    client: client(ctx),
    reason: 'TOO_MANY_FAILED_LOGINS',
    failed_attempts: 5 + Math.floor(ctx.rng() * 5),
    locked_until: ctx.now + 30 * 60 * 1000,
    support_url: 'https://help.tidings.example/account-locked',
  }),
  ACCOUNT_UNLOCKED: (ctx) => ({
    ...header(ctx),
    client: client(ctx),
    unlocked_by: pick(ctx.rng, ['TIMEOUT', 'PASSWORD_RESET', 'SUPPORT_AGENT'] as const),
  }),
  EMAIL_VERIFICATION_REQUESTED: (ctx) => ({
    ...header(ctx),
    client: client(ctx),
    verification_url: `https://app.tidings.example/verify-email?token=${token(ctx)}`,
    expires_at: ctx.now + DAY,
  }),
  TWO_FACTOR_ENABLED: (ctx) => ({
    ...header(ctx),
    client: client(ctx),
    method: pick(ctx.rng, ['TOTP', 'SMS', 'WEBAUTHN'] as const),
    backup_codes_remaining: 10,
  }),
  PAYMENT_SUCCEEDED: (ctx) => {
    const order = orderId(ctx);
    return {
      ...header(ctx),
      payment_id: paymentId(ctx),
      order_id: order,
      ...basket(ctx),
      card_last4: cardLast4(ctx),
      receipt_url: `https://shop.tidings.example/orders/${order}/receipt`,
    };
  },
  PAYMENT_FAILED: (ctx) => ({
    ...header(ctx),
    payment_id: paymentId(ctx),
    order_id: orderId(ctx),
    amount: basket(ctx).amount,
    card_last4: cardLast4(ctx),
    ...pick(ctx.rng, [
      { reason: 'INSUFFICIENT_FUNDS', message: 'Your card has insufficient funds.' },
      { reason: 'CARD_EXPIRED', message: 'Your card has expired.' },
      { reason: 'CARD_DECLINED', message: 'Your card was declined.' },
      { reason: 'PROCESSING_ERROR', message: 'An error occurred while processing your card.' },
    ] as const),
    update_payment_url: 'https://app.tidings.example/billing/payment-methods',
  }),
  SUBSCRIPTION_CREATED: (ctx) => {
    const chosen = plan(ctx);
    const trial = ctx.rng() < 0.5;
    return {
      ...header(ctx),
      subscription_id: subscriptionId(ctx),
      plan: chosen,
      card_last4: cardLast4(ctx),
      trial_ends_at: trial ? ctx.now + 14 * DAY : null,
      renews_at: trial ? ctx.now + 14 * DAY : ctx.now + period(chosen),
    };
  },
  SUBSCRIPTION_RENEWED: (ctx) => {
    const chosen = plan(ctx);
    return {
      ...header(ctx),
      subscription_id: subscriptionId(ctx),
      plan: chosen,
      payment_id: paymentId(ctx),
      amount: chosen.price,
      card_last4: cardLast4(ctx),
      renews_at: ctx.now + period(chosen),
    };
  },
  SUBSCRIPTION_CANCELLED: (ctx) => ({
    ...header(ctx),
    subscription_id: subscriptionId(ctx),
    plan: plan(ctx),
    cancelled_by: 'CUSTOMER',
    reason: pick(ctx.rng, ['Too expensive', 'Switching to another tool', 'No longer needed']),
    access_ends_at: ctx.now + 12 * DAY,
  }),
  REFUND_PROCESSED: (ctx) => {
    const { items, amount } = basket(ctx);
    return {
      ...header(ctx),
      refund_id: `re_${hex(ctx.rng, 16)}`,
      payment_id: paymentId(ctx),
      order_id: orderId(ctx),
      amount,
      card_last4: cardLast4(ctx),
      reason: 'Item returned',
      items,
    };
  },
  INVOICE_GENERATED: (ctx) => {
    const invoice = `INV-${new Date(ctx.now).getUTCFullYear()}-${digits(ctx.rng, 5)}`;
    const chosen = plan(ctx);
    return {
      ...header(ctx),
      invoice_id: invoice,
      invoice_url: `https://billing.tidings.example/invoices/${invoice}`,
      subscription_id: subscriptionId(ctx),
      amount: chosen.price,
      due_at: ctx.now + 14 * DAY,
      items: [{ sku: chosen.plan_id, description: `${chosen.name} plan`, quantity: 1, unit_amount_minor: chosen.price.amount_minor }],
    };
  },
  PAYMENT_DISPUTED: (ctx) => ({
    ...header(ctx),
    dispute_id: `dp_${hex(ctx.rng, 16)}`,
    payment_id: paymentId(ctx),
    order_id: orderId(ctx),
    amount: basket(ctx).amount,
    card_last4: cardLast4(ctx),
    reason: pick(ctx.rng, ['FRAUDULENT', 'PRODUCT_NOT_RECEIVED', 'DUPLICATE'] as const),
    evidence_due_at: ctx.now + 7 * DAY,
  }),
};

function context(rng: Rng, userIndex: number, now: number, locales?: readonly string[]): Context {
  const persona = PERSONAS[userIndex % PERSONAS.length] ?? PERSONAS[0];
  if (!persona) throw new Error('no personas');
  const locale = locales?.[userIndex % locales.length];
  return { rng, userIndex, persona: locale ? { ...persona, locale } : persona, now };
}

/**
 * A realistic, schema-valid event of `type`. `overrides` replace top-level fields, e.g. to
 * pin `user_id` or to make an invalid event on purpose in a test.
 */
export function sampleEvent<T extends EventType>(type: T, overrides: Partial<EventMap[T]> = {}, rng: Rng = Math.random): EventMap[T] {
  const build = BUILDERS[type];
  const event = build(context(rng, 1 + Math.floor(rng() * 1000), Date.now()));
  return { ...event, ...overrides };
}

/** Relative frequency in a realistic stream: receipts and alerts dominate, disputes are rare. */
const STREAM_WEIGHTS: Readonly<Record<EventType, number>> = {
  PAYMENT_SUCCEEDED: 30,
  LOGIN_ALERT: 10,
  INVOICE_GENERATED: 8,
  SUBSCRIPTION_RENEWED: 8,
  PAYMENT_FAILED: 6,
  USER_REGISTERED: 6,
  EMAIL_VERIFICATION_REQUESTED: 6,
  PASSWORD_RESET_REQUESTED: 5,
  SUBSCRIPTION_CREATED: 4,
  REFUND_PROCESSED: 3,
  TWO_FACTOR_ENABLED: 3,
  SUBSCRIPTION_CANCELLED: 2,
  ACCOUNT_LOCKED: 2,
  ACCOUNT_UNLOCKED: 2,
  PAYMENT_DISPUTED: 1,
};

const WEIGHTED = Object.entries(STREAM_WEIGHTS) as Array<[EventType, number]>;
const TOTAL_WEIGHT = WEIGHTED.reduce((sum, [, weight]) => sum + weight, 0);

function weightedType(rng: Rng): EventType {
  let ticket = rng() * TOTAL_WEIGHT;
  for (const [type, weight] of WEIGHTED) {
    ticket -= weight;
    if (ticket < 0) return type;
  }
  return 'PAYMENT_SUCCEEDED';
}

export interface SampleStreamOptions {
  /** Distinct users the events are spread over. Default 50. */
  users?: number;
  /** Default Math.random; pass seededRng(n) for a reproducible mix. */
  rng?: Rng;
  /** Milliseconds between consecutive events' occurred_at. Default 250. */
  spacingMs?: number;
  /** Recipient locales, dealt to users in turn in place of their persona's (e.g. to show every template locale). */
  locales?: readonly string[];
}

function typed<K extends EventType>(type: K, event: EventMap[K]): TypedEvent {
  return { type, event } as TypedEvent;
}

/** The user ids `sampleStream(…, { users })` spreads its events over. */
export function sampleUserIds(users: number): string[] {
  return Array.from({ length: users }, (_, i) => userId(i + 1));
}

/** `count` events of mixed auth and payment types across users, in occurred_at order ending now. */
export function sampleStream(count: number, options: SampleStreamOptions = {}): TypedEvent[] {
  const { users = 50, rng = Math.random, spacingMs = 250, locales } = options;
  if (!Number.isInteger(users) || users < 1) throw new RangeError(`users must be a positive integer (got ${users})`);
  const start = Date.now() - count * spacingMs;
  const out: TypedEvent[] = [];
  for (let i = 0; i < count; i++) {
    const type = weightedType(rng);
    const userIndex = 1 + Math.floor(rng() * users);
    out.push(typed(type, BUILDERS[type](context(rng, userIndex, start + i * spacingMs, locales))));
  }
  return out;
}
