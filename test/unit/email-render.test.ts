import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TemplateRenderError } from '../../src/errors';
import { EVENT_TYPES, type EventMap, type EventType } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { createEmailRenderer, DEFAULT_TEMPLATES_DIR, renderEmail } from '../../src/notifications/email/render';
import { currencyFractionDigits, formatMinorUnits } from '../../src/notifications/format';

/** The detail each email must carry, beyond the recipient's name and address. */
const SPECIFIC: { [K in EventType]: (event: EventMap[K]) => string[] } = {
  USER_REGISTERED: (e) => [e.client.ip],
  PASSWORD_RESET_REQUESTED: (e) => [e.reset_url, e.client.ip],
  LOGIN_ALERT: (e) => [e.client.ip, e.client.location ?? '', e.client.user_agent, e.alert_reason],
  ACCOUNT_LOCKED: (e) => [e.support_url, 'too many unsuccessful sign-in attempts'],
  ACCOUNT_UNLOCKED: (e) => [e.client.ip],
  EMAIL_VERIFICATION_REQUESTED: (e) => [e.verification_url],
  TWO_FACTOR_ENABLED: (e) => [e.client.ip],
  PAYMENT_SUCCEEDED: (e) => [e.payment_id, e.order_id ?? '', `ending in ${e.card_last4 ?? ''}`, ...(e.items ?? []).map((i) => i.sku)],
  PAYMENT_FAILED: (e) => [e.payment_id, `ending in ${e.card_last4 ?? ''}`],
  SUBSCRIPTION_CREATED: (e) => [e.subscription_id, e.plan.name],
  SUBSCRIPTION_RENEWED: (e) => [e.subscription_id, e.payment_id],
  SUBSCRIPTION_CANCELLED: (e) => [e.subscription_id, e.plan.name],
  REFUND_PROCESSED: (e) => [e.refund_id, e.payment_id],
  INVOICE_GENERATED: (e) => [e.invoice_id, e.invoice_url],
  PAYMENT_DISPUTED: (e) => [e.dispute_id, e.payment_id],
};

function expectedDetails<T extends EventType>(type: T, event: EventMap[T]): string[] {
  const pick = SPECIFIC[type] as (e: EventMap[T]) => string[];
  return pick(event);
}

describe('renderEmail', () => {
  it.each(EVENT_TYPES)('%s renders a subject, HTML and text with the recipient-specific content', (type) => {
    const event = sampleEvent(type, { recipient: { email: 'grace.hopper+7@example.com', name: 'Grace Hopper', locale: 'en-US', time_zone: 'America/New_York' } } as never, seededRng(3));
    const email = renderEmail(type, event);
    expect(email.subject.trim()).not.toBe('');
    expect(email.subject).not.toMatch(/\n/);
    expect(email.html).toMatch(/^<!doctype html>/);
    for (const part of [email.html, email.text]) {
      expect(part).toContain('Grace Hopper');
      expect(part).toContain('grace.hopper+7@example.com');
      expect(part).toContain(event.event_id);
    }
    for (const detail of expectedDetails(type, event)) {
      expect(detail).not.toBe('');
      expect(email.text).toContain(detail);
    }
  });

  it('gives every event type its own subject', () => {
    const subjects = EVENT_TYPES.map((type) => renderEmail(type, sampleEvent(type, {}, seededRng(5))).subject);
    expect(new Set(subjects).size).toBe(EVENT_TYPES.length);
  });

  it('includes the formatted amount and reason in words for a failed payment', () => {
    const event = sampleEvent('PAYMENT_FAILED', {
      amount: { amount_minor: 4999, currency: 'USD' },
      reason: 'INSUFFICIENT_FUNDS',
      recipient: { email: 'ada@example.com', locale: 'en-US', time_zone: 'UTC' },
    });
    const email = renderEmail('PAYMENT_FAILED', event);
    expect(email.subject).toBe('Your payment of $49.99 did not go through');
    expect(email.text).toContain('insufficient funds');
  });

  it('HTML-escapes user data in the HTML part but not in the text part', () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED', {
      recipient: { email: 'ada@example.com', name: '<script>alert("x")</script> & Co', locale: 'en-US', time_zone: 'UTC' },
      items: [{ sku: 'X<1>', description: '<b>bold</b> mug', quantity: 1, unit_amount_minor: 100 }],
      amount: { amount_minor: 100, currency: 'USD' },
    });
    const email = renderEmail('PAYMENT_SUCCEEDED', event);
    expect(email.html).not.toContain('<script>');
    expect(email.html).not.toContain('<b>bold</b>');
    expect(email.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
    expect(email.html).toContain('&lt;b&gt;bold&lt;/b&gt; mug');
    expect(email.text).toContain('<script>alert("x")</script> & Co');
  });

  it('formats dates in the recipient time zone', () => {
    const event = sampleEvent('INVOICE_GENERATED', {
      due_at: Date.UTC(2025, 0, 31, 23, 30),
      recipient: { email: 'yuki@example.com', locale: 'en-US', time_zone: 'Asia/Tokyo' },
    });
    // 23:30 UTC on 31 January is already 1 February in Tokyo.
    expect(renderEmail('INVOICE_GENERATED', event).text).toContain('February 1, 2025');
  });

  it('lets the caller override the locale', () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED', { amount: { amount_minor: 123456, currency: 'EUR' } });
    expect(renderEmail('PAYMENT_SUCCEEDED', event, { locale: 'de-DE' }).subject).toMatch(/1\.234,56\s€/);
  });

  it('raises TemplateRenderError for a template that references a missing variable', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-templates-'));
    try {
      fs.cpSync(DEFAULT_TEMPLATES_DIR, dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'payment-succeeded', 'subject.hbs'), 'Receipt for {{order_number}}');
      const renderer = createEmailRenderer({ templatesDir: dir });
      const render = (): unknown => renderer.render('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED'));
      expect(render).toThrow(TemplateRenderError);
      expect(render).toThrow(/payment-succeeded\/subject.*order_number/);
      fs.rmSync(path.join(dir, 'login-alert'), { recursive: true });
      expect(() => renderer.render('LOGIN_ALERT', sampleEvent('LOGIN_ALERT'))).toThrow(TemplateRenderError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('money formatting', () => {
  it('takes each currency\'s minor-unit exponent from Intl', () => {
    expect(currencyFractionDigits('JPY')).toBe(0);
    expect(currencyFractionDigits('USD')).toBe(2);
    expect(currencyFractionDigits('BHD')).toBe(3);
  });

  // ICU separates symbols with no-break spaces; compare with plain spaces for readability.
  const format = (minor: number, currency: string, locale: string): string =>
    formatMinorUnits(minor, currency, locale).replace(/[\u00a0\u202f]/g, ' ');

  it('formats JPY, USD and BHD minor units in the recipient locale', () => {
    expect(format(1999, 'USD', 'en-US')).toBe('$19.99');
    expect(format(1999, 'JPY', 'ja-JP')).toBe('￥1,999');
    expect(format(1999, 'JPY', 'en-US')).toBe('¥1,999');
    expect(format(1999, 'BHD', 'en-US')).toBe('BHD 1.999');
    expect(format(123456, 'EUR', 'de-DE')).toBe('1.234,56 €');
    expect(format(5, 'USD', 'en-US')).toBe('$0.05');
  });
});
