import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { parseOptions } from '../../config/options';
import { ConfigError } from '../../errors';
import { recordOperatorAction } from '../../ops/operator-actions';
import { API_KEY_SCOPES, type ApiKeyScope } from './scopes';

/** An API key as listed: never its secret. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  scope: ApiKeyScope;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The whole key, `tdk_<id>_<secret>`: shown once, never stored. */
  key: string;
}

interface Row {
  id: string;
  name: string;
  scope: ApiKeyScope;
  secret_sha256: string;
  created_at: Date;
  created_by: string;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const TABLE = 'api_keys';
/** The prefix that tells an API key from a user token (and makes a leaked key easy to grep for). */
export const API_KEY_PREFIX = 'tdk_';
// A 64-bit public id to find the row, then a 256-bit secret (base64url) checked against its hash.
const KEY_FORMAT = /^tdk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const KEY_ID = /^[0-9a-f]{16}$/;
/** How stale `last_used_at` may get before a request writes it again: one write a minute per key at most. */
const LAST_USED_RESOLUTION = '1 minute';

const apiKeyName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })
  .refine((name) => !KEY_ID.test(name), { error: 'must not look like a key id (16 hex digits): `revoke` takes either' });
const apiKeyScope = z.enum(API_KEY_SCOPES, { error: `must be one of ${API_KEY_SCOPES.join(', ')}` });
const newKey = z.object({ name: apiKeyName, scope: apiKeyScope });

/** A revocation that cannot be done: no such key, or it was revoked before. */
export class ApiKeyStateError extends ConfigError {
  constructor(
    readonly state: 'not_found' | 'already_revoked',
    message: string,
  ) {
    super(message);
  }
}

/** SHA-256 is enough for a 256-bit random secret: no dictionary or brute force reaches it, so no slow hash is needed. */
function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether a bearer credential is shaped like an API key (as opposed to a user token). */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(API_KEY_PREFIX);
}

/**
 * The admin API's keys in PostgreSQL (table api_keys): created with a random secret of which
 * only the SHA-256 is kept, checked in constant time, revoked for good. Creating and revoking
 * are recorded as operator actions in the same transaction.
 */
export class ApiKeys {
  constructor(private readonly db: Knex) {}

  async create(input: { name: string; scope: ApiKeyScope; actor: string; reason?: string }): Promise<CreatedApiKey> {
    const { name, scope } = parseOptions('API key', newKey, { name: input.name, scope: input.scope });
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const row = await this.db.transaction(async (trx) => {
      const taken = (await trx(TABLE).where({ name }).whereNull('revoked_at').first('id')) as Pick<Row, 'id'> | undefined;
      if (taken) throw new ConfigError(`an API key named "${name}" exists already (id ${taken.id}): pick another --name, or revoke it first with \`tidings apikeys revoke ${name}\``);
      const [inserted] = (await trx(TABLE)
        .insert({ id, name, scope, secret_sha256: secretHash(secret).toString('hex'), created_by: input.actor })
        .returning('*')) as [Row];
      await recordOperatorAction(trx, { actor: input.actor, action: 'apikey.create', target: name, reason: input.reason, details: { keyId: id, scope } });
      return inserted;
    }).catch((error: unknown) => {
      // Two creations of one name at once: the unique index refuses the second.
      if ((error as { code?: string }).code === '23505') throw new ConfigError(`an API key named "${name}" exists already: pick another --name`, error);
      throw error;
    });
    return { ...toInfo(row), key: `${API_KEY_PREFIX}${id}_${secret}` };
  }

  /** Every key, live and revoked, oldest first. */
  async list(): Promise<ApiKeyInfo[]> {
    const rows = (await this.db(TABLE).orderBy('created_at').orderBy('id')) as Row[];
    return rows.map(toInfo);
  }

  /** Revokes the live key with this name, or the key with this id; refused when there is none or it is revoked already. */
  async revoke(input: { nameOrId: string; actor: string; reason?: string }): Promise<ApiKeyInfo> {
    const { nameOrId, actor } = input;
    return this.db.transaction(async (trx) => {
      const byId = KEY_ID.test(nameOrId);
      const query = trx(TABLE).forUpdate();
      const row = (await (byId ? query.where({ id: nameOrId }) : query.where({ name: nameOrId }).orderByRaw('revoked_at IS NULL DESC, created_at DESC')).first()) as Row | undefined;
      if (!row) throw new ApiKeyStateError('not_found', `no API key ${byId ? 'with id' : 'named'} "${nameOrId}": \`tidings apikeys list\` shows the keys`);
      if (row.revoked_at) throw new ApiKeyStateError('already_revoked', `API key "${row.name}" (id ${row.id}) was revoked already, at ${row.revoked_at.toISOString()} by ${row.revoked_by ?? 'unknown'}`);
      const [revoked] = (await trx(TABLE).where({ id: row.id }).update({ revoked_at: trx.fn.now(), revoked_by: actor }).returning('*')) as [Row];
      await recordOperatorAction(trx, { actor, action: 'apikey.revoke', target: row.name, reason: input.reason, details: { keyId: row.id, scope: row.scope } });
      return toInfo(revoked);
    });
  }

  /**
   * The live key that `credential` is, or undefined (malformed, unknown, wrong secret or
   * revoked). The secret's hash is compared in constant time; `last_used_at` is kept to the minute.
   */
  async verify(credential: string): Promise<ApiKeyInfo | undefined> {
    const match = KEY_FORMAT.exec(credential);
    if (!match) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const row = (await this.db(TABLE).where({ id }).first()) as Row | undefined;
    const presented = secretHash(secret);
    // An unknown id still costs a comparison, so timing does not tell ids apart.
    const stored = row ? Buffer.from(row.secret_sha256, 'hex') : Buffer.alloc(presented.length);
    const matches = timingSafeEqual(presented, stored) && row !== undefined;
    if (!matches || row.revoked_at !== null) return undefined;
    await this.db(TABLE)
      .where({ id })
      .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', this.db.raw(`now() - interval '${LAST_USED_RESOLUTION}'`)))
      .update({ last_used_at: this.db.fn.now() });
    return toInfo(row);
  }
}

function toInfo(row: Row): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
  };
}
