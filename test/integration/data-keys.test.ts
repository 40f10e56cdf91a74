import { randomBytes } from 'node:crypto';
import { DataKeyStore } from '../../src/crypto/data-key-store';
import { LocalKeyManagement } from '../../src/crypto/key-management';
import { open, seal } from '../../src/crypto/personal-cipher';
import { KeyUnavailableError, UserErasedError } from '../../src/errors';
import { createTestDatabase } from '../helpers/test-database';

describe('users’ data keys in PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const kms = new LocalKeyManagement(randomBytes(32));

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('gives every process the same key for a user, stored only wrapped', async () => {
    const producer = new DataKeyStore({ db: database.db, kms });
    const consumer = new DataKeyStore({ db: database.db, kms });
    const [a, b] = await Promise.all([producer.keyForUser('user-a'), consumer.keyForUser('user-a')]);
    expect(b.keyId).toBe(a.keyId);
    expect(b.key).toEqual(a.key);
    const sealed = seal(a, 'alice@example.com');
    expect(open(await new DataKeyStore({ db: database.db, kms }).keyById(a.keyId), sealed)).toBe('alice@example.com');
    const rows = await database.db('user_data_keys').where({ user_id: 'user-a' });
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0].wrapped_key).includes(a.key)).toBe(false);
    expect(rows[0].kms_key_ref).toBe(kms.keyRef);
    expect((await producer.keyForUser('user-b')).keyId).not.toBe(a.keyId);
  });

  it('after erasure no process can open the user’s values, other users keep theirs, and a returning user gets a new key', async () => {
    const sealer = new DataKeyStore({ db: database.db, kms });
    const reader = new DataKeyStore({ db: database.db, kms });
    const erased = await sealer.keyForUser('user-c');
    const kept = await sealer.keyForUser('user-d');
    const sealedC = seal(erased, '+14155550123');
    // The reader has the key in memory before the erasure happens in another process.
    expect(open(await reader.keyById(erased.keyId), sealedC)).toBe('+14155550123');

    const destroyed = await database.db.transaction((trx) => new DataKeyStore({ db: database.db, kms }).destroyForUser('user-c', trx));
    expect(destroyed).toEqual([erased.keyId]);

    await expect(reader.keyById(erased.keyId)).rejects.toThrow(UserErasedError);
    const both = await reader.keysById([erased.keyId, kept.keyId]);
    expect(both.get(erased.keyId)).toBeInstanceOf(UserErasedError);
    expect(both.get(kept.keyId)).toMatchObject({ keyId: kept.keyId });
    const row = await database.db('user_data_keys').where({ key_id: erased.keyId }).first();
    expect(row.wrapped_key).toBeNull();
    expect(row.destroyed_at).toBeInstanceOf(Date);

    const fresh = await new DataKeyStore({ db: database.db, kms }).keyForUser('user-c');
    expect(fresh.keyId).not.toBe(erased.keyId);
  });

  it('pauses rather than guesses when the key-encryption key is not the one that wrapped the keys', async () => {
    const key = await new DataKeyStore({ db: database.db, kms }).keyForUser('user-e');
    const misconfigured = new DataKeyStore({ db: database.db, kms: new LocalKeyManagement(randomBytes(32)) });
    const failure = await misconfigured.keyById(key.keyId).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KeyUnavailableError);
    expect((failure as KeyUnavailableError).retriable).toBe(true);
    expect(String(failure)).toMatch(/TIDINGS_MASTER_KEY/);
    await expect(misconfigured.keyById('00000000-0000-4000-8000-000000000000')).rejects.toThrow(/not in user_data_keys/);
  });
});
