import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseOptions, positiveInt } from '../config/options';
import type { Db, Trx } from '../db/database';
import { KeyUnavailableError, UserErasedError } from '../errors';
import type { KeyManagementService } from './key-management';
import type { DataKey } from './personal-cipher';

export interface DataKeyStoreOptions {
  /** The database holding `user_data_keys`: the same one for every producer and consumer group. */
  db: Db;
  kms: KeyManagementService;
  /**
   * How long a user's key, once read, is used for sealing without asking the database again.
   * A producer may seal with a key erased less than this long ago; consumers then skip those
   * events as erased. Reading (`keysById`) always checks the key is still live. Default 30 s.
   */
  sealingCacheMs?: number;
  /** Unwrapped keys kept in memory at most (least recently used go first). Default 10,000. */
  maxCachedKeys?: number;
}

const optionsSchema = z.object({ sealingCacheMs: z.number().int().min(0).default(30_000), maxCachedKeys: positiveInt.default(10_000) });

interface KeyRow {
  key_id: string;
  user_id: string;
  kms_key_ref: string;
  wrapped_key: Buffer | null;
}

/** What `keysById` found for a key id. */
export type KeyLookup = DataKey | UserErasedError;

/**
 * Users' data keys: created on first use, unwrapped through the KMS, destroyed by erasure.
 * Sealing asks for a user's live key (cached briefly); opening asks for keys by id, one query
 * per batch, so a key destroyed in another process is seen at once.
 */
export class DataKeyStore {
  private readonly settings: z.output<typeof optionsSchema>;
  private readonly sealing = new Map<string, { key: DataKey; until: number }>();
  private readonly unwrapped = new Map<string, DataKey>();

  constructor(private readonly options: DataKeyStoreOptions) {
    this.settings = parseOptions('data key store', optionsSchema, { sealingCacheMs: options.sealingCacheMs, maxCachedKeys: options.maxCachedKeys });
  }

  /**
   * The user's key for sealing when it is cached (read less than `sealingCacheMs` ago), without
   * a promise: the publish hot path stays synchronous. Undefined: ask `keyForUser`.
   */
  cachedKeyForUser(userId: string): DataKey | undefined {
    const cached = this.sealing.get(userId);
    return cached && cached.until > Date.now() ? cached.key : undefined;
  }

  /** The user's live data key, created (and wrapped by the KMS) if they have none. */
  async keyForUser(userId: string): Promise<DataKey> {
    const cached = this.cachedKeyForUser(userId);
    if (cached) return cached;
    const key = (await this.liveKey(userId)) ?? (await this.createKey(userId));
    this.remember(this.sealing, userId, { key, until: Date.now() + this.settings.sealingCacheMs });
    return key;
  }

  /**
   * The keys named, each unwrapped or a UserErasedError when erased. An id with no row is
   * absent from the map: the caller decides (a record sealed with a key from another
   * deployment's database is misconfiguration, not bad data).
   */
  async keysById(keyIds: Iterable<string>, trx?: Trx): Promise<Map<string, KeyLookup>> {
    const ids = [...new Set(keyIds)];
    const found = new Map<string, KeyLookup>();
    if (ids.length === 0) return found;
    const rows: KeyRow[] = await (trx ?? this.options.db)('user_data_keys').select('key_id', 'user_id', 'kms_key_ref', 'wrapped_key').whereIn('key_id', ids);
    for (const row of rows) {
      if (row.wrapped_key === null) {
        this.forget(row.key_id, row.user_id);
        found.set(row.key_id, new UserErasedError(row.key_id));
      } else {
        found.set(row.key_id, this.unwrapped.get(row.key_id) ?? (await this.unwrap(row)));
      }
    }
    return found;
  }

  /** One key by id; throws UserErasedError when erased, KeyUnavailableError when unknown. */
  async keyById(keyId: string, trx?: Trx): Promise<DataKey> {
    const found = (await this.keysById([keyId], trx)).get(keyId);
    if (found === undefined) throw new KeyUnavailableError(`data key ${keyId} is not in user_data_keys of this database`);
    if (found instanceof UserErasedError) throw found;
    return found;
  }

  /** Destroys every live key of the user (crypto-shredding); returns their ids. Pass the erasure's transaction. */
  async destroyForUser(userId: string, trx?: Trx): Promise<string[]> {
    const rows: Array<{ key_id: string }> = await (trx ?? this.options.db)('user_data_keys')
      .where({ user_id: userId })
      .whereNull('destroyed_at')
      .update({ wrapped_key: null, destroyed_at: (trx ?? this.options.db).fn.now() })
      .returning('key_id');
    for (const row of rows) this.forget(row.key_id, userId);
    this.sealing.delete(userId);
    return rows.map((r) => r.key_id);
  }

  private async liveKey(userId: string): Promise<DataKey | undefined> {
    const row: KeyRow | undefined = await this.options.db('user_data_keys').select('key_id', 'user_id', 'kms_key_ref', 'wrapped_key').where({ user_id: userId }).whereNull('destroyed_at').first();
    if (!row || row.wrapped_key === null) return undefined;
    return this.unwrapped.get(row.key_id) ?? this.unwrap(row);
  }

  private async createKey(userId: string): Promise<DataKey> {
    const keyId = randomUUID();
    const key = randomBytes(32);
    const wrapped = await this.wrapOrPause(key, context(userId, keyId));
    const inserted: Array<{ key_id: string }> = await this.options.db('user_data_keys')
      .insert({ key_id: keyId, user_id: userId, kms_key_ref: this.options.kms.keyRef, wrapped_key: wrapped })
      .onConflict(this.options.db.raw('(user_id) WHERE destroyed_at IS NULL'))
      .ignore()
      .returning('key_id');
    if (inserted.length === 0) {
      // Another process created the user's key at the same moment: use that one.
      const winner = await this.liveKey(userId);
      if (!winner) throw new KeyUnavailableError(`data key of a user was created and destroyed while being read; try again`);
      return winner;
    }
    const dataKey = { keyId, userId, key };
    this.remember(this.unwrapped, keyId, dataKey);
    return dataKey;
  }

  private async unwrap(row: KeyRow): Promise<DataKey> {
    let key: Buffer;
    try {
      key = await this.options.kms.unwrap(row.wrapped_key as Buffer, row.kms_key_ref, context(row.user_id, row.key_id));
    } catch (error) {
      throw error instanceof KeyUnavailableError ? error : new KeyUnavailableError(`the KMS did not unwrap data key ${row.key_id}`, error);
    }
    const dataKey = { keyId: row.key_id, userId: row.user_id, key };
    this.remember(this.unwrapped, row.key_id, dataKey);
    return dataKey;
  }

  private async wrapOrPause(key: Buffer, ctx: string): Promise<Buffer> {
    try {
      return await this.options.kms.wrap(key, ctx);
    } catch (error) {
      throw error instanceof KeyUnavailableError ? error : new KeyUnavailableError('the KMS did not wrap a new data key', error);
    }
  }

  private forget(keyId: string, userId: string): void {
    this.unwrapped.delete(keyId);
    if (this.sealing.get(userId)?.key.keyId === keyId) this.sealing.delete(userId);
  }

  /** Insertion order is recency: a hit is re-inserted, the oldest entry goes when full. */
  private remember<V>(map: Map<string, V>, id: string, value: V): void {
    map.delete(id);
    map.set(id, value);
    if (map.size > this.settings.maxCachedKeys) map.delete(map.keys().next().value as string);
  }
}

/** What a wrapped key is bound to: unwrapping it for another user or key id fails. */
function context(userId: string, keyId: string): string {
  return `tidings.data-key.v1|${userId}|${keyId}`;
}
