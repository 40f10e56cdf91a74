import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TemplateRenderError } from '../../src/errors';
import { EVENT_TYPES, type EventMap, type EventType } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { createEmailRenderer, DEFAULT_TEMPLATES_DIR, renderEmail, templateNameOf, type RenderedEmail } from '../../src/notifications/email/render';
import { currencyFractionDigits, formatInstant, formatMinorUnits } from '../../src/notifications/format';
import { ScheduledEmailRenderer, type ScheduledTemplate } from '../../src/scheduler/scheduled-email';

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
    withTemplatesCopy((dir) => {
      fs.writeFileSync(path.join(dir, 'en', 'payment-succeeded', 'subject.hbs'), 'Receipt for {{order_number}}');
      const renderer = createEmailRenderer({ templatesDir: dir });
      const render = (): unknown => renderer.render('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { recipient: contact('en-US') }));
      expect(render).toThrow(TemplateRenderError);
      expect(render).toThrow(/en\/payment-succeeded\/subject.*order_number/);
      fs.rmSync(path.join(dir, 'en', 'login-alert'), { recursive: true });
      expect(() => renderer.render('LOGIN_ALERT', sampleEvent('LOGIN_ALERT', { recipient: contact('en-US') }))).toThrow(TemplateRenderError);
    });
  });
});

/** Runs `use` on a scratch copy of the bundled templates, to break on purpose. */
function withTemplatesCopy(use: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-templates-'));
  try {
    fs.cpSync(DEFAULT_TEMPLATES_DIR, dir, { recursive: true });
    use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function contact(locale: string, timeZone = 'Europe/Paris'): EventMap[EventType]['recipient'] {
  return { email: 'hedy.lamarr@example.com', name: 'Hedy Lamarr', phone: null, locale, time_zone: timeZone };
}

const manifestVersion = (locale: string): string =>
  (JSON.parse(fs.readFileSync(path.join(DEFAULT_TEMPLATES_DIR, locale, 'manifest.json'), 'utf8')) as { version: string }).version;

/** The bundled template locales: every directory with a manifest. */
const LOCALES = fs.readdirSync(DEFAULT_TEMPLATES_DIR).filter((name) => fs.existsSync(path.join(DEFAULT_TEMPLATES_DIR, name, 'manifest.json')));
const SCHEDULED: ScheduledTemplate[] = ['daily-digest', 'renewal-reminder'];
const hasTemplate = (locale: string, name: string): boolean => fs.existsSync(path.join(DEFAULT_TEMPLATES_DIR, locale, name));

// ICU separates currency symbols with no-break spaces; compare with plain spaces for readability.
const plain = (text: string): string => text.replace(/[\u00a0\u202f]/g, ' ');
const whole = (email: RenderedEmail): string => plain(`${email.subject}\n${email.html}\n${email.text}`);

/** Words of the English templates and partials that must never show in a French email. */
const ENGLISH = ['Hi Hedy', 'Hello,', 'This email was sent', 'Reference ', 'IP address', 'Location', 'Items:', 'If the button does not work', 'Payment ID', 'Thank you', ' the ', ' your '];

describe('renderEmail in the recipient\'s language', () => {
  const occurredAt = Date.UTC(2026, 10, 25, 13, 30);

  it('bundles English and French, each with a manifest version', () => {
    expect(LOCALES).toEqual(expect.arrayContaining(['en', 'fr']));
    for (const locale of LOCALES) expect(manifestVersion(locale)).toMatch(/^\d{4}\.\d+\.\d+$/);
  });

  it('English has every event and scheduled template, so every fallback chain ends in one', () => {
    for (const name of [...EVENT_TYPES.map(templateNameOf), ...SCHEDULED]) expect(hasTemplate('en', name)).toBe(true);
  });

  it('a French user gets a French receipt with the amount and date in French, and the French version', () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED', {
      recipient: contact('fr-FR'),
      amount: { amount_minor: 1250, currency: 'EUR' },
      items: [{ sku: 'MUG-1', description: 'Tasse', quantity: 1, unit_amount_minor: 1250 }],
      order_id: 'ord_42',
      occurred_at: occurredAt,
    });
    const email = renderEmail('PAYMENT_SUCCEEDED', event);
    expect(email.locale).toBe('fr');
    expect(email.version).toBe(`fr-${manifestVersion('fr')}`);
    expect(plain(email.subject)).toBe('Reçu : votre paiement de 12,50 € pour la commande ord_42');
    expect(plain(email.text)).toContain('Bonjour Hedy Lamarr,');
    expect(plain(email.text)).toContain('Merci ! Nous avons bien reçu votre paiement de 12,50 € le 25 nov. 2026, 14:30 UTC+1.');
    expect(plain(email.text)).toContain('Total : 12,50 €');
    expect(email.html).toContain('<html lang="fr">');
    expect(plain(email.html)).toContain('<strong>12,50 €</strong> le 25 nov. 2026, 14:30 UTC+1');
    expect(email.text).toContain(`Référence ${event.event_id}.`);
    for (const english of ENGLISH) expect(whole(email)).not.toContain(english);
  });

  it('French enum words come from the French phrase book', () => {
    // The bank's own message is data, shown as the bank sent it: a French one here, so only template words are checked.
    const event = sampleEvent('PAYMENT_FAILED', { recipient: contact('fr-FR'), amount: { amount_minor: 4999, currency: 'EUR' }, reason: 'INSUFFICIENT_FUNDS', message: 'Provision insuffisante (code 51).' });
    const email = renderEmail('PAYMENT_FAILED', event);
    expect(plain(email.subject)).toBe('Votre paiement de 49,99 € n’a pas abouti');
    expect(email.text).toContain('votre banque a signalé un solde insuffisant sur la carte');
    expect(email.text).not.toContain('insufficient funds');
  });

  it('fr-CA falls back to the French templates, with Canadian French formatting', () => {
    const event = sampleEvent('PASSWORD_RESET_REQUESTED', { recipient: contact('fr-CA', 'America/Toronto'), expires_at: occurredAt });
    const email = renderEmail('PASSWORD_RESET_REQUESTED', event);
    expect(email.locale).toBe('fr');
    expect(email.version).toBe(`fr-${manifestVersion('fr')}`);
    expect(email.subject).toBe('Réinitialisez votre mot de passe Tidings');
    expect(email.text).toContain(event.reset_url);
    expect(email.text).toContain(formatInstant(occurredAt, 'fr-CA', 'America/Toronto'));
    expect(plain(formatInstant(occurredAt, 'fr-CA', 'America/Toronto'))).toContain('08 h 30');
  });

  it('a German user, for whom there are no templates, gets English with German amounts and dates', () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED', { recipient: contact('de-DE', 'Europe/Berlin'), amount: { amount_minor: 1250, currency: 'EUR' }, order_id: 'ord_7', occurred_at: occurredAt });
    const email = renderEmail('PAYMENT_SUCCEEDED', event);
    expect(email.locale).toBe('en');
    expect(email.version).toBe(`en-${manifestVersion('en')}`);
    expect(plain(email.subject)).toBe('Receipt: your payment of 12,50 € for order ord_7');
    expect(plain(email.text)).toContain('We received your payment of 12,50 € on 25. Nov. 2026, 14:30 MEZ.');
    expect(email.html).toContain('<html lang="en">');
  });

  it('an event with no French template falls back to the English one and its English partials, per template', () => {
    withTemplatesCopy((dir) => {
      fs.rmSync(path.join(dir, 'fr', 'login-alert'), { recursive: true });
      const renderer = createEmailRenderer({ templatesDir: dir });
      const alert = renderer.render('LOGIN_ALERT', sampleEvent('LOGIN_ALERT', { recipient: contact('fr-FR'), occurred_at: occurredAt }));
      expect(alert.locale).toBe('en');
      expect(alert.version).toBe(`en-${manifestVersion('en')}`);
      expect(alert.subject).toMatch(/New sign-in to your Tidings account/);
      expect(alert.text).toContain('IP address:');
      expect(alert.text).toContain('This email was sent to hedy.lamarr@example.com');
      expect(alert.text).not.toContain('Adresse IP');
      // The recipient's locale still formats the dates.
      expect(plain(alert.text)).toContain('25 nov. 2026, 14:30 UTC+1');

      const reset = renderer.render('PASSWORD_RESET_REQUESTED', sampleEvent('PASSWORD_RESET_REQUESTED', { recipient: contact('fr-FR') }));
      expect(reset.version).toBe(`fr-${manifestVersion('fr')}`);
      expect(reset.text).toContain('Adresse IP :');
    });
  });

  const everyEvent = LOCALES.flatMap((locale) => EVENT_TYPES.filter((type) => hasTemplate(locale, templateNameOf(type))).map((type) => [locale, type] as const));
  it.each(everyEvent)('in %s, %s renders completely with that locale\'s templates', (locale, type) => {
    const event = sampleEvent(type, { recipient: contact(locale) } as never, seededRng(11));
    const email = renderEmail(type, event);
    expect(email.locale).toBe(locale);
    expect(email.version).toBe(`${locale}-${manifestVersion(locale)}`);
    expect(email.subject.trim()).not.toBe('');
    expect(email.html).toMatch(/^<!doctype html>/);
    expect(whole(email)).not.toMatch(/\{\{|\}\}/);
    for (const part of [email.html, email.text]) {
      expect(part).toContain('Hedy Lamarr');
      expect(part).toContain('hedy.lamarr@example.com');
      expect(part).toContain(event.event_id);
    }
    if (locale === 'fr') for (const english of ENGLISH) expect(whole(email)).not.toContain(english);
  });

  const scheduled = LOCALES.flatMap((locale) => SCHEDULED.filter((name) => hasTemplate(locale, name)).map((name) => [locale, name] as const));
  it.each(scheduled)('in %s, the scheduled %s email renders completely', (locale, name) => {
    const root = { event_id: 'delivery-1', recipient: { email: 'hedy.lamarr@example.com', name: 'Hedy Lamarr' } };
    const amount = { amount_minor: 1250, currency: 'EUR' };
    const context =
      name === 'daily-digest'
        ? {
            ...root,
            day_at: occurredAt,
            count: 1,
            totals: [{ currency: 'EUR', charged_minor: 1250, refunded_minor: 0, net_minor: 1250 }],
            entries: [
              { event_type: 'SUBSCRIPTION_RENEWED', kind: 'charge', reference: 'pay_1', amount, occurred_at: occurredAt, late: true },
              { event_type: 'SUBSCRIPTION_CANCELLED', kind: 'subscription', reference: 'sub_1', amount: null, occurred_at: occurredAt, late: false },
            ],
          }
        : { ...root, subscription_id: 'sub_1', plan: { name: 'Pro', interval: 'MONTH' }, amount, renews_at: occurredAt };
    const email = new ScheduledEmailRenderer().render(name, context, { locale, timeZone: 'Europe/Paris' });
    expect(email.version).toBe(`${locale}-${manifestVersion(locale)}`);
    expect(whole(email)).not.toMatch(/\{\{|\}\}/);
    expect(whole(email)).toContain(formatMinorUnits(1250, 'EUR', locale).replace(/[\u00a0\u202f]/g, ' '));
    expect(email.text).toContain('delivery-1');
    if (locale === 'fr') for (const english of ENGLISH) expect(whole(email)).not.toContain(english);
    if (name === 'daily-digest') {
      // Each entry is named for its event in the template's language.
      const [renewal, cancelled] = locale === 'fr' ? ['Renouvellement d’abonnement', 'Abonnement résilié'] : ['Subscription renewal', 'Subscription cancelled'];
      expect(email.text).toContain(`${renewal} pay_1`);
      expect(email.text).toContain(`${cancelled} sub_1`);
    }
  });

  it('a template locale without manifest.json is a TemplateRenderError naming the file', () => {
    withTemplatesCopy((dir) => {
      fs.rmSync(path.join(dir, 'fr', 'manifest.json'));
      const renderer = createEmailRenderer({ templatesDir: dir });
      const render = (): unknown => renderer.render('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { recipient: contact('fr-FR') }));
      expect(render).toThrow(TemplateRenderError);
      expect(render).toThrow(path.join(dir, 'fr', 'manifest.json'));
      // English users are unaffected.
      expect(renderer.render('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { recipient: contact('en-GB') })).locale).toBe('en');
    });
  });

  it('a French template with a missing variable, or a French phrase book missing a word, is a TemplateRenderError', () => {
    withTemplatesCopy((dir) => {
      fs.writeFileSync(path.join(dir, 'fr', 'payment-failed', 'subject.hbs'), 'Paiement {{numero}}');
      const renderer = createEmailRenderer({ templatesDir: dir });
      expect(() => renderer.render('PAYMENT_FAILED', sampleEvent('PAYMENT_FAILED', { recipient: contact('fr-FR') }))).toThrow(/fr\/payment-failed\/subject.*numero/);

      const phrasesFile = path.join(dir, 'fr', 'phrases.json');
      const book = JSON.parse(fs.readFileSync(phrasesFile, 'utf8')) as Record<string, Record<string, string>>;
      delete book.AccountLockReason?.PAYMENT_FRAUD;
      fs.writeFileSync(phrasesFile, JSON.stringify(book));
      const fresh = createEmailRenderer({ templatesDir: dir });
      const render = (): unknown => fresh.render('PASSWORD_RESET_REQUESTED', sampleEvent('PASSWORD_RESET_REQUESTED', { recipient: contact('fr-FR') }));
      expect(render).toThrow(TemplateRenderError);
      expect(render).toThrow(/phrases\.json has no words for AccountLockReason\.PAYMENT_FRAUD/);
    });
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
