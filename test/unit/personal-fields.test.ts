import { randomBytes, randomUUID } from 'node:crypto';
import type { KeyLookup } from '../../src/crypto/data-key-store';
import { hasPersonalValues, openPersonalFields, sealedKeyIds, sealPersonalFields, type DataKeyReader } from '../../src/crypto/personal-fields';
import { isSealed, seal, type DataKey } from '../../src/crypto/personal-cipher';
import { KeyUnavailableError, MalformedMessageError, UserErasedError } from '../../src/errors';
import { getEventDefinition, listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { maskPersonalData } from '../../src/events/personal-data';
import { sampleEvent } from '../../src/events/samples';
import { validateEvent } from '../../src/events/validate';

function dataKey(userId: string): DataKey {
  return { keyId: randomUUID(), userId, key: randomBytes(32) };
}

/** A key reader over fixed lookups, counting what it is asked. */
function reader(entries: Array<[string, KeyLookup]>): DataKeyReader & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    keysById: async (ids) => {
      const wanted = [...ids];
      asked.push(wanted);
      return new Map(entries.filter(([id]) => wanted.includes(id)));
    },
  };
}

/** A payment event with every personal field given, as a consumer decodes it. */
function fullPayment(userId: string): Record<string, unknown> {
  const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: userId });
  event.recipient = { ...event.recipient, email: 'ada@example.com', name: 'Ada Lovelace', phone: '+14155550123' };
  return event as unknown as Record<string, unknown>;
}

describe('sealing the personal fields of an event with its user data key', () => {
  it('seals exactly the fields the schema marks personal, in every event type, and opens them back', async () => {
    for (const { type, schema } of listEventDefinitions()) {
      const event = sampleEvent(type as EventType, { user_id: 'u-1' }) as unknown as Record<string, unknown>;
      const before = JSON.stringify(event);
      const key = dataKey('u-1');
      const sealed = sealPersonalFields(schema, event, key);
      // The caller's event is left as it was.
      expect(JSON.stringify(event)).toBe(before);
      // What masking finds personal is what got sealed, and nothing else changed.
      const plain = maskPersonalData(schema, event);
      const masked = maskPersonalData(schema, sealed);
      expect({ type, paths: masked.paths.sort() }).toEqual({ type, paths: plain.paths.sort() });
      expect({ type, allSealed: masked.values.every(isSealed) }).toEqual({ type, allSealed: true });
      expect({ type, rest: JSON.stringify(masked.masked) }).toEqual({ type, rest: JSON.stringify(plain.masked) });
      expect(hasPersonalValues(schema, event)).toBe(plain.paths.length > 0);
      for (const value of plain.values) expect(JSON.stringify(sealed)).not.toContain(value);

      const opened = await openPersonalFields(schema, sealed, reader([[key.keyId, key]]));
      expect({ type, opened }).toEqual({ type, opened: event });
      expect(() => validateEvent(type as EventType, opened)).not.toThrow();
    }
  });

  it('leaves null personal values null and an event without personal values untouched', () => {
    const { schema } = getEventDefinition('PAYMENT_SUCCEEDED');
    const event = fullPayment('u-1');
    (event.recipient as Record<string, unknown>).phone = null;
    const sealed = sealPersonalFields(schema, event, dataKey('u-1'));
    expect((sealed.recipient as Record<string, unknown>).phone).toBeNull();
    expect(sealedKeyIds(schema, sealed).size).toBe(1);
  });

  it('passes plain values through (a producer with sealing off, or in another language) without asking for keys', async () => {
    const { schema } = getEventDefinition('PAYMENT_SUCCEEDED');
    const event = fullPayment('u-1');
    const keys = reader([]);
    expect(await openPersonalFields(schema, event, keys)).toBe(event);
    expect(await openPersonalFields(schema, event, undefined)).toBe(event);
    expect(keys.asked).toEqual([]);
  });

  it('says why a sealed value cannot be opened: erased, no key-encryption key, an unknown key, a key of another user, altered', async () => {
    const { schema } = getEventDefinition('PAYMENT_SUCCEEDED');
    const key = dataKey('u-1');
    const sealed = sealPersonalFields(schema, fullPayment('u-1'), key);

    await expect(openPersonalFields(schema, sealed, reader([[key.keyId, new UserErasedError(key.keyId)]]))).rejects.toThrow(UserErasedError);

    const noKms = await openPersonalFields(schema, sealed, undefined).catch((e: unknown) => e);
    expect(noKms).toBeInstanceOf(KeyUnavailableError);
    expect((noKms as KeyUnavailableError).retriable).toBe(true);
    expect(String(noKms)).toMatch(/TIDINGS_MASTER_KEY/);

    // A key this database does not have: the record is bad data for this deployment, so it is
    // dead-lettered (MalformedMessageError) rather than pausing its partition for good.
    await expect(openPersonalFields(schema, sealed, reader([]))).rejects.toThrow(MalformedMessageError);
    await expect(openPersonalFields(schema, sealed, reader([]))).rejects.toThrow(/not in user_data_keys/);

    // Someone else's sealed value copied into this user's event.
    const other = dataKey('u-2');
    const stolen = { ...sealed, recipient: { ...(sealed.recipient as object), email: seal(other, 'eve@example.com') } };
    await expect(openPersonalFields(schema, stolen, reader([[key.keyId, key], [other.keyId, other]]))).rejects.toThrow(/another user/);

    const altered = { ...sealed, recipient: { ...(sealed.recipient as object), name: `${String((sealed.recipient as Record<string, string>).name).slice(0, -4)}AAAA` } };
    await expect(openPersonalFields(schema, altered, reader([[key.keyId, key]]))).rejects.toThrow(MalformedMessageError);

    const forged = { ...sealed, recipient: { ...(sealed.recipient as object), email: 'tdk1:------------------------------------:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA' } };
    await expect(openPersonalFields(schema, forged, reader([[key.keyId, key]]))).rejects.toThrow(MalformedMessageError);
  });
});
