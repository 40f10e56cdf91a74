import { randomBytes, randomUUID } from 'node:crypto';
import { LocalKeyManagement, parseKeySetting } from '../../src/crypto/key-management';
import { isSealed, open, seal, sealedKeyId, type DataKey } from '../../src/crypto/personal-cipher';
import { ConfigError, KeyUnavailableError, MalformedMessageError } from '../../src/errors';
import { readEnv } from '../../src/config/env';

function dataKey(): DataKey {
  return { keyId: randomUUID(), userId: 'user-1', key: randomBytes(32) };
}

describe('sealing a personal value with its user data key', () => {
  it('round-trips unicode text, and the sealed text names the key but shows nothing of the value', () => {
    const key = dataKey();
    const sealed = seal(key, 'Zoë Müller <zoe@example.com>');
    expect(isSealed(sealed)).toBe(true);
    expect(sealedKeyId(sealed)).toBe(key.keyId);
    // The sealed text is random base64: it may hold a short word by chance, never the value's parts.
    for (const part of ['zoe@example.com', 'Müller', Buffer.from('zoe@example.com').toString('base64url').slice(0, 12)]) expect(sealed).not.toContain(part);
    expect(open(key, sealed)).toBe('Zoë Müller <zoe@example.com>');
    // A fresh IV each time: equal values do not give equal ciphertexts.
    expect(seal(key, 'same')).not.toBe(seal(key, 'same'));
    expect(open(key, seal(key, ''))).toBe('');
  });

  it('refuses a value sealed with another key, altered, or not sealed at all', () => {
    const key = dataKey();
    const sealed = seal(key, 'alice@example.com');
    expect(() => open(dataKey(), sealed)).toThrow(MalformedMessageError);
    // Same key bytes under another id: the id is authenticated too.
    expect(() => open({ ...key, keyId: randomUUID() }, sealed.replace(key.keyId, randomUUID()))).toThrow(/does not authenticate|not/);
    const body = sealed.slice(sealed.lastIndexOf(':') + 1);
    const flipped = `${sealed.slice(0, sealed.lastIndexOf(':') + 1)}${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`;
    expect(() => open(key, flipped)).toThrow(/does not authenticate/);
    expect(() => open(key, 'alice@example.com')).toThrow(/not a sealed value/);
    expect(isSealed('alice@example.com')).toBe(false);
  });
});

describe('the local key-encryption key', () => {
  const kekText = randomBytes(32).toString('base64');

  it('wraps a data key so that only the same key-encryption key and context unwrap it', async () => {
    const kms = LocalKeyManagement.fromSetting(kekText);
    const key = randomBytes(32);
    const wrapped = await kms.wrap(key, 'user-1|k1');
    expect(wrapped.includes(key)).toBe(false);
    await expect(kms.unwrap(wrapped, kms.keyRef, 'user-1|k1')).resolves.toEqual(key);
    await expect(kms.unwrap(wrapped, kms.keyRef, 'user-2|k1')).rejects.toThrow(KeyUnavailableError);
    const other = LocalKeyManagement.fromSetting(randomBytes(32).toString('hex'));
    await expect(other.unwrap(wrapped, kms.keyRef, 'user-1|k1')).rejects.toThrow(/check TIDINGS_MASTER_KEY/);
    // The reference is a fingerprint, never the key itself.
    expect(kms.keyRef).toMatch(/^local:[0-9a-f]{16}$/);
    expect(kekText).not.toContain(kms.keyRef.slice(6));
  });

  it('accepts 32 bytes as base64 or hex and names the setting for anything else, without echoing it', () => {
    expect(parseKeySetting(randomBytes(32).toString('hex'), 'X')).toHaveLength(32);
    expect(parseKeySetting(randomBytes(32).toString('base64url'), 'X')).toHaveLength(32);
    expect(() => parseKeySetting('c2hvcnQ=', 'TIDINGS_MASTER_KEY')).toThrow(ConfigError);
    expect(() => readEnv({ TIDINGS_MASTER_KEY: 'not-a-key-secret-value' })).toThrow(/TIDINGS_MASTER_KEY must be 32 random bytes/);
    try {
      readEnv({ TIDINGS_MASTER_KEY: 'not-a-key-secret-value' });
    } catch (error) {
      expect(String(error)).not.toContain('not-a-key-secret-value');
    }
    expect(readEnv({ TIDINGS_MASTER_KEY: kekText }).TIDINGS_MASTER_KEY).toBe(kekText);
  });
});
