import { CardDataError } from '../../src/errors';
import { findCardData, findCardNumbers, isCardNumber, isSecretFieldName, maskCardData, refuseCardData } from '../../src/events/card-data';
import { listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { sampleEvent, sampleStream, seededRng } from '../../src/events/samples';
import { collectNamedTypes } from '../../src/events/schema-source';
import { validateEvent } from '../../src/events/validate';
import { scrubText } from '../../src/observability/redaction';

// Luhn-valid test numbers as the card networks publish them (Visa, Mastercard, Amex, Discover).
const VISA = '4111111111111111';
const MASTERCARD = '5500005555555559';
const AMEX = '378282246310005';
const DISCOVER = '6011111111111117';

/** `prefix` followed by digits and a Luhn check digit, `length` digits in all. */
function luhnValid(prefix: string, length: number): string {
  const body = prefix.padEnd(length - 1, '0');
  for (let check = 0; check <= 9; check++) {
    const digits = `${body}${check}`;
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let d = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    if (sum % 10 === 0) return digits;
  }
  throw new Error('unreachable');
}

const found = (text: string): string[] => findCardNumbers(text).map((m) => m.digits);

describe('card numbers in text', () => {
  it('finds Luhn-valid numbers of 13 to 19 digits and nothing that fails the check', () => {
    expect([VISA, MASTERCARD, AMEX, DISCOVER, luhnValid('4', 13), luhnValid('4', 19)].map(isCardNumber)).toEqual([true, true, true, true, true, true]);
    expect(found(`paid with ${VISA}.`)).toEqual([VISA]);
    expect(found('paid with 4111111111111112.')).toEqual([]); // one digit off: Luhn fails
    expect(found(`${luhnValid('4', 13)} and ${luhnValid('4', 19)}`)).toEqual([luhnValid('4', 13), luhnValid('4', 19)]);
  });

  it('finds them written with spaces or dashes between the digits', () => {
    expect(found('card 4111 1111 1111 1111 on file')).toEqual([VISA]);
    expect(found('card 4111-1111-1111-1111 on file')).toEqual([VISA]);
    expect(found('amex 3782 822463 10005')).toEqual([AMEX]);
    expect(found('4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1')).toEqual([VISA]);
    // A card number followed by its CVV or an amount is still a card number.
    expect(found('4111 1111 1111 1111 123')).toEqual([VISA]);
    expect(found(`${VISA} 123`)).toEqual([VISA]);
  });

  it('leaves 12- and 20-digit runs alone, even when they pass the Luhn check', () => {
    const twelve = luhnValid('4', 12);
    const twenty = luhnValid('4', 20);
    expect(found(`ref ${twelve}`)).toEqual([]);
    expect(found(`ref ${twenty}`)).toEqual([]);
    expect(found(`ref ${twenty.replace(/(\d{4})(?=\d)/g, '$1-')}`)).toEqual([]);
  });

  it('leaves phone numbers, order ids, UUIDs and timestamps alone', () => {
    const phoneLike = luhnValid('4', 14); // a Luhn-valid 14-digit number written as a phone number
    for (const text of [
      `call +${phoneLike}`,
      '+44 20 7946 0958',
      '+1 415 555 2671',
      '(415) 555-2671',
      `order ORD-${VISA}`,
      `order_${VISA}`,
      `invoice INV${VISA}`,
      'INV-2026-000123456789',
      '41111111-1111-4111-8111-111111111111',
      'at 1760000000018 ms',
      '2026-12-03 10:15:00',
    ]) {
      expect([text, found(text)]).toEqual([text, []]);
    }
  });

  it('is the detector the log redaction uses', () => {
    expect(scrubText('card 4111-1111-1111-1111 cvv follows: 4111 1111 1111 1111 123')).toBe('card [card] cvv follows: [card] 123');
    expect(scrubText('order ORD-4111111111111111 shipped')).toBe('order ORD-4111111111111111 shipped');
  });
});

describe('fields named like card secrets or credentials', () => {
  it('names a CVV, a security code, a card number, a password, a secret or a full token', () => {
    for (const name of ['cvv', 'CVV2', 'card_cvc', 'cvc2', 'securityCode', 'security_code', 'card_number', 'cardNumber', 'pan', 'password', 'userPassword', 'client_secret', 'secret', 'card_token', 'accessToken', 'token']) {
      expect([name, isSecretFieldName(name)]).toEqual([name, true]);
    }
  });

  it('leaves names that describe one without holding it', () => {
    for (const name of ['card_last4', 'token_id', 'token_expires_at', 'password_changed_at', 'secret_hint', 'reset_url', 'backup_codes_remaining', 'card_brand', 'payment_id', 'description']) {
      expect([name, isSecretFieldName(name)]).toEqual([name, false]);
    }
  });

  it('trips on no field of any shipped schema', () => {
    const names = listEventDefinitions().flatMap((d) => [...collectNamedTypes(d.schema).values()].flatMap((t) => (t.type === 'record' ? t.fields.map((f) => f.name) : [])));
    expect(names.length).toBeGreaterThan(40);
    expect(names.filter(isSecretFieldName)).toEqual([]);
  });
});

describe('card data in events', () => {
  it('finds it in nested records, arrays and maps, by path', () => {
    const payload = {
      order_id: 'A-1',
      items: [{ description: 'gift' }, { description: `card ${VISA.replace(/(\d{4})(?=\d)/g, '$1 ')}` }],
      metadata: { note: `pay with ${AMEX}`, cvv: '123', cvv_hint: 'the three digits on the back' },
      phone: '+14155550123',
    };
    expect(findCardData(payload).map((f) => f.path)).toEqual(['items[1].description', 'metadata.note', 'metadata.cvv']);
  });

  it('no sample event of any type trips it', () => {
    const rng = seededRng(12);
    for (const definition of listEventDefinitions()) {
      for (let i = 0; i < 50; i++) expect(findCardData(sampleEvent(definition.type as EventType, {}, rng))).toEqual([]);
    }
    for (const { event } of sampleStream(2_000, { rng: seededRng(7) })) expect(findCardData(event)).toEqual([]);
  });

  it('refuses an event with a typed error naming the fields, never the values', () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED');
    const bad = { ...event, items: [{ sku: 'X', description: `card 4111-1111-1111-1111`, quantity: 1, unit_amount_minor: 100 }], cvv: '987' };
    let error: unknown;
    try {
      validateEvent('PAYMENT_SUCCEEDED', bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CardDataError);
    expect(error).toMatchObject({ code: 'CARD_DATA_REFUSED', field: 'items[0].description', fields: ['items[0].description', 'cvv'], eventType: 'PAYMENT_SUCCEEDED' });
    const message = (error as Error).message;
    expect(message).toContain('"items[0].description"');
    expect(message).toContain('"cvv"');
    for (const value of ['4111', '1111-1111', '987']) expect(message).not.toContain(value);
    expect(() => refuseCardData('PAYMENT_SUCCEEDED', event)).not.toThrow();
  });

  it('masks it keeping the last four digits, the separators and the shape', () => {
    const { masked, paths } = maskCardData({ items: [{ description: 'card 4111-1111-1111-1111, thanks', quantity: 2 }], note: `amex ${AMEX}`, cvc: '123', ok: 'fine' });
    expect(masked).toEqual({ items: [{ description: 'card ****-****-****-1111, thanks', quantity: 2 }], note: 'amex ***********0005', cvc: '***', ok: 'fine' });
    expect(paths).toEqual(['items[0].description', 'note', 'cvc']);
    expect(findCardData(masked).filter((f) => f.path !== 'cvc')).toEqual([]);
  });
});
