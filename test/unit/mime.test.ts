import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SendMailOptions } from 'nodemailer';
import { EVENT_TYPES } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { buildMime, parseMailbox, quotedPrintable } from '../../src/notifications/email/mime';
import { renderEmail } from '../../src/notifications/email/render';
import { mailOptions } from '../../src/notifications/providers/smtp-provider';

const FROM = 'Tidings <no-reply@tidings.local>';

function mailbox(field: AddressObject | AddressObject[] | undefined): { name: string; address: string | undefined } {
  const first = (Array.isArray(field) ? field[0] : field)?.value[0];
  return { name: first?.name ?? '', address: first?.address };
}

async function parse(raw: Buffer | undefined): Promise<ParsedMail> {
  if (!raw) throw new Error('buildMime refused a message it should build');
  return simpleParser(raw);
}

async function composedByNodemailer(options: SendMailOptions): Promise<ParsedMail> {
  const raw = await new Promise<Buffer>((resolve, reject) => new MailComposer(options).compile().build((error, message) => (error ? reject(error) : resolve(message))));
  return simpleParser(raw);
}

/** What a mail client shows of a message: the fields both composers must agree on. */
function shown(mail: ParsedMail): object {
  return {
    from: mailbox(mail.from),
    to: mailbox(mail.to),
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    eventId: mail.headers.get('x-tidings-event-id'),
    eventType: mail.headers.get('x-tidings-event-type'),
  };
}

describe('buildMime', () => {
  it.each(EVENT_TYPES)('%s: the email reads the same as nodemailer composes it, every line within 78 characters', async (type) => {
    const event = sampleEvent(type, { recipient: { email: 'zoe.muller+7@example.com', name: 'Zoë Müller', locale: 'fr-FR', time_zone: 'Europe/Paris' } } as never, seededRng(11));
    const email = renderEmail(type, event);
    const message = { channel: 'email' as const, eventId: event.event_id, userId: event.user_id, recipient: 'zoe.muller+7@example.com', title: email.subject, text: email.text, html: email.html, idempotencyKey: `${event.event_id}.email`, data: { eventType: type } };
    const options = mailOptions(message, FROM, 'tidings.local');
    const raw = buildMime({ from: FROM, to: message.recipient, subject: email.subject, text: email.text, html: email.html, messageId: String(options.messageId), headers: options.headers as Record<string, string> });
    expect(shown(await parse(raw))).toEqual(shown(await composedByNodemailer(options)));
    const lines = raw?.toString('latin1').split('\r\n') ?? [];
    expect(lines.filter((l) => l.length > 78)).toEqual([]);
    expect(raw?.toString('latin1')).not.toMatch(/[^\r]\n|\r(?!\n)/);
    expect([...(raw ?? [])].every((b) => b < 0x80)).toBe(true);
  });

  it('keeps text exactly: "=", dots and spaces at line ends, long lines, mixed line breaks, non-Latin scripts', async () => {
    const text = ['a=b ==3D', '.leading dot', 'trailing space ', 'tab\t', 'x'.repeat(200), 'Ünïcødé ✓ 東京 🚀', '', 'end'].join('\n') + '\r\nCRLF line\rCR line';
    const mail = await parse(buildMime({ from: FROM, to: 'a@example.com', subject: 's', text, messageId: '<1@tidings.local>' }));
    expect(mail.text).toBe(text.replace(/\r\n|\r/g, '\n'));
    expect(mail.html).toBe(false);
  });

  it('writes long and non-ASCII subjects as encoded words that decode to the same text', async () => {
    for (const subject of ['Paiement reçu — 12,50 € pour « Abonnement annuel » chez Exemple SARL, merci de votre confiance', 'An ASCII subject that is long enough to be folded at a space somewhere past the seventy-sixth character', '=?UTF-8?B?Zm9v?= is not decoded']) {
      const mail = await parse(buildMime({ from: FROM, to: 'a@example.com', subject, text: 't', messageId: '<1@tidings.local>' }));
      expect(mail.subject).toBe(subject);
    }
  });

  it('turns line breaks in header values into spaces, so no header can be injected', async () => {
    const raw = buildMime({ from: FROM, to: 'a@example.com', subject: 'Hello\r\nBcc: victim@example.com', text: 't', messageId: '<1@tidings.local>', headers: { 'X-Note': 'one\ntwo' } });
    const mail = await parse(raw);
    expect(mail.subject).toBe('Hello Bcc: victim@example.com');
    expect(mail.headers.get('bcc')).toBeUndefined();
    expect(mail.headers.get('x-note')).toBe('one two');
  });

  it('quotes or encodes display names that are not plain words', async () => {
    for (const name of ['Tidings, Inc.', 'Say "hi" \\ there', 'Zoë Müller']) {
      const mail = await parse(buildMime({ from: `"${name.replace(/(["\\])/g, '\\$1')}" <no-reply@tidings.local>`, to: 'a@example.com', subject: 's', text: 't', messageId: '<1@tidings.local>' }));
      expect(mailbox(mail.from)).toEqual({ name, address: 'no-reply@tidings.local' });
    }
  });

  it('leaves to nodemailer what it does not build: non-ASCII addresses, named recipients, odd header names', () => {
    const base = { from: FROM, to: 'a@example.com', subject: 's', text: 't', messageId: '<1@tidings.local>' };
    expect(buildMime({ ...base, to: 'zoë@example.com' })).toBeUndefined();
    expect(buildMime({ ...base, to: 'a@exämple.com' })).toBeUndefined();
    expect(buildMime({ ...base, to: 'A <a@example.com>' })).toBeUndefined();
    expect(buildMime({ ...base, from: 'Tidings <nö@tidings.local>' })).toBeUndefined();
    expect(buildMime({ ...base, headers: { 'X Bad': 'v' } })).toBeUndefined();
    expect(buildMime({ ...base, messageId: '1@tidings.local' })).toBeUndefined();
    expect(parseMailbox('Tidings <no-reply@tidings.local>')).toEqual({ name: 'Tidings', address: 'no-reply@tidings.local' });
    expect(parseMailbox('no-reply@tidings.local')).toEqual({ address: 'no-reply@tidings.local' });
  });
});

describe('quotedPrintable', () => {
  it('escapes "=", controls and 8-bit bytes, encodes whitespace before a break, and wraps at 76', () => {
    expect(quotedPrintable('a=b')).toBe('a=3Db');
    expect(quotedPrintable('é')).toBe('=C3=A9');
    expect(quotedPrintable('x \ny\t')).toBe('x=20\r\ny=09');
    const wrapped = quotedPrintable('é'.repeat(60)).split('\r\n');
    expect(wrapped.every((l) => l.length <= 76)).toBe(true);
    expect(wrapped.slice(0, -1).every((l) => l.endsWith('='))).toBe(true);
    // No escape is cut by a soft break: what precedes each break ends with a whole "=XX".
    expect(wrapped.slice(0, -1).every((l) => /(=[0-9A-F]{2})+=$/.test(l))).toBe(true);
  });
});
