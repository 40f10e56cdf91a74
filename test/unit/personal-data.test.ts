import { getEventDefinition, listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { MASK, maskPersonalData, maskValuesIn } from '../../src/events/personal-data';
import { assertKnownRules } from '../../src/events/rules';
import { sampleEvent } from '../../src/events/samples';
import type { AvroRecordSchema } from '../../src/events/schema-source';

/** An event as a consumer gets it: written and read with its schema. */
function decoded<T extends EventType>(type: T, overrides: Parameters<typeof sampleEvent<T>>[1] = {}): Record<string, unknown> {
  const { avroType } = getEventDefinition(type);
  return avroType.fromBuffer(avroType.toBuffer(sampleEvent(type, overrides))) as Record<string, unknown>;
}

describe('masking personal data, as the schemas mark it', () => {
  it('masks the contact details of a payment and keeps everything else', () => {
    const payload = decoded('PAYMENT_SUCCEEDED', { user_id: 'u-42' });
    const recipient = payload.recipient as Record<string, unknown>;
    recipient.name = 'Ada Lovelace';
    recipient.phone = '+14155550123';
    const { masked, paths, values } = maskPersonalData(getEventDefinition('PAYMENT_SUCCEEDED').schema, payload);

    expect(masked.recipient).toEqual({ ...recipient, email: MASK, name: MASK, phone: MASK });
    expect(paths.sort()).toEqual(['recipient.email', 'recipient.name', 'recipient.phone']);
    expect(values).toEqual(expect.arrayContaining([recipient.email, 'Ada Lovelace', '+14155550123']));
    expect(masked.user_id).toBe('u-42');
    expect(masked.amount).toEqual(payload.amount);
    expect(masked.items).toEqual(payload.items);
    expect(JSON.stringify(masked)).not.toContain(String(recipient.email));
    // The decoded payload itself is left as it was.
    expect((payload.recipient as Record<string, unknown>).email).not.toBe(MASK);
  });

  it('leaves an absent (null) personal value null, so an operator sees it was not given', () => {
    const payload = decoded('PAYMENT_SUCCEEDED');
    (payload.recipient as Record<string, unknown>).phone = null;
    const { masked, paths } = maskPersonalData(getEventDefinition('PAYMENT_SUCCEEDED').schema, payload);
    expect((masked.recipient as Record<string, unknown>).phone).toBeNull();
    expect(paths).not.toContain('recipient.phone');
  });

  it('masks the client IP, user agent and location of an account event, and a password reset link', () => {
    const alert = decoded('LOGIN_ALERT');
    const { masked, paths } = maskPersonalData(getEventDefinition('LOGIN_ALERT').schema, alert);
    expect(paths).toEqual(expect.arrayContaining(['client.ip', 'client.user_agent', 'recipient.email']));
    expect((masked.client as Record<string, unknown>).ip).toBe(MASK);
    expect((masked.client as Record<string, unknown>).user_agent).toBe(MASK);

    const reset = decoded('PASSWORD_RESET_REQUESTED');
    expect(maskPersonalData(getEventDefinition('PASSWORD_RESET_REQUESTED').schema, reset).masked.reset_url).toBe(MASK);
  });

  it('masks the recipient email of every event type of the contract', () => {
    for (const definition of listEventDefinitions()) {
      const payload = decoded(definition.type);
      const { masked } = maskPersonalData(definition.schema, payload);
      expect(JSON.stringify(masked)).not.toContain(String((payload.recipient as Record<string, unknown>).email));
    }
  });

  it('reads which fields are personal from the schema alone: nested records, arrays, maps and unions', () => {
    const schema: AvroRecordSchema = {
      type: 'record',
      name: 'test.Order',
      fields: [
        { name: 'id', type: 'string' },
        {
          name: 'people',
          type: {
            type: 'array',
            items: { type: 'record', name: 'test.Person', fields: [{ name: 'nickname', type: 'string', 'tidings.personal': true }, { name: 'role', type: 'string' }] },
          },
        },
        { name: 'buyer', type: ['null', 'test.Person'], default: null },
        { name: 'notes', type: { type: 'map', values: 'test.Person' } },
        { name: 'secret', type: 'string', 'tidings.personal': true },
      ],
    };
    const payload = {
      id: 'o-1',
      people: [{ nickname: 'zed', role: 'buyer' }],
      buyer: { nickname: 'ann', role: 'buyer' },
      notes: { gift: { nickname: 'bob', role: 'recipient' } },
      secret: 's3cret',
    };
    const { masked, paths } = maskPersonalData(schema, payload);
    expect(masked).toEqual({
      id: 'o-1',
      people: [{ nickname: MASK, role: 'buyer' }],
      buyer: { nickname: MASK, role: 'buyer' },
      notes: { gift: { nickname: MASK, role: 'recipient' } },
      secret: MASK,
    });
    expect(paths).toEqual(['people[0].nickname', 'buyer.nickname', 'notes.gift.nickname', 'secret']);
  });

  it('masks personal values wherever a text repeats them (an SMTP error quoting the address), longest first', () => {
    expect(maskValuesIn('550 mailbox ada@example.com refused (ada)', ['ada', 'ada@example.com'])).toBe(`550 mailbox ${MASK} refused (${MASK})`);
    // Too short to mask without making the text unreadable.
    expect(maskValuesIn('a b', ['a'])).toBe('a b');
  });

  it('refuses a "tidings.personal" attribute that is not true, so a typo cannot unmask a field', () => {
    expect(() => assertKnownRules({ name: 'email', type: 'string', 'tidings.personal': 'yes' }, 'test.Contact')).toThrow(/tidings.personal must be true/);
    expect(() => assertKnownRules({ name: 'email', type: 'string', 'tidings.personal': true }, 'test.Contact')).not.toThrow();
  });
});
