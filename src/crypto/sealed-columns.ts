/**
 * Personal values in PostgreSQL columns (a delivery's address, an in-app message's text, a
 * push token, a scheduled email's recipient, the personal fields of an audited payload),
 * sealed with their user's data key in the `tdk1:` form of personal-cipher.ts, so that once
 * an erasure destroys the key no copy of the database (a dump, a backup, a replica) shows them.
 *
 * A sealed value that must also be found again (the delivery ledger's unique key
 * (event, channel, recipient)) is stored with a digest beside it: HMAC-SHA256 under a key
 * derived from the same data key, so one user's equal values give equal digests, while
 * nobody can tell what a digest stands for, not even by trying guesses, once the key is gone.
 *
 * Without a key store (no TIDINGS_MASTER_KEY) nothing is sealed: values are stored as they
 * are. Reading takes both forms, so rows written before sealing was turned on still read.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { getEventDefinition } from '../events/catalog';
import { KeyUnavailableError, UserErasedError } from '../errors';
import type { DataKeyStore } from './data-key-store';
import { isSealed, open, seal, sealedKeyId, type DataKey } from './personal-cipher';
import { isKeyId, sealPersonalFields, type DataKeyReader } from './personal-fields';

/** `tdh1:<key id>:<base64url HMAC-SHA256>`: a digest under a user's data key. */
const DIGEST_PREFIX = 'tdh1:';

/** What a value sealed with a destroyed data key reads as. */
export const ERASED = '[erased]';

/** Seals the values of the users it was made for (see `columnSealer`). */
export interface ColumnSealer {
  /** False when there is no key store: every method then gives its input back. */
  readonly sealing: boolean;
  seal(userId: string, text: string): string;
  /** A stable stand-in for `text` to look it up by: the same for the same user and text. */
  digest(userId: string, text: string): string;
  /** An event payload with the fields its schema marks personal sealed. */
  sealPayload<T extends object>(eventType: string, userId: string, payload: T): T;
}

/**
 * A sealer for `userIds`, with each user's live data key read (or created) once. Throws
 * KeyUnavailableError when the KMS cannot wrap or unwrap a key (work pauses, nothing is
 * stored in plaintext instead).
 */
export async function columnSealer(keys: DataKeyStore | undefined, userIds: Iterable<string>): Promise<ColumnSealer> {
  if (!keys) return NOT_SEALED;
  const byUser = new Map<string, DataKey>();
  for (const userId of new Set(userIds)) byUser.set(userId, await keys.keyForUser(userId));
  const keyOf = (userId: string): DataKey => {
    const key = byUser.get(userId);
    if (!key) throw new Error(`column sealer: no data key was read for user ${userId}; pass every user to columnSealer`);
    return key;
  };
  return {
    sealing: true,
    // A value sealed already (copied from a sealed event) is kept as it is.
    seal: (userId, text) => (sealedKeyId(text) !== undefined ? text : seal(keyOf(userId), text)),
    digest: (userId, text) => digest(keyOf(userId), text),
    sealPayload: (eventType, userId, payload) => sealPersonalFields(getEventDefinition(eventType).schema, payload, keyOf(userId)),
  };
}

/** The sealer of a process without a key store: values are stored as they are. */
export const NOT_SEALED: ColumnSealer = { sealing: false, seal: (_u, text) => text, digest: (_u, text) => text, sealPayload: (_t, _u, payload) => payload };

const digestKeys = new WeakMap<DataKey, Buffer>();

function digest(key: DataKey, text: string): string {
  // A key of its own for digests: the data key itself only ever encrypts.
  let macKey = digestKeys.get(key);
  if (!macKey) digestKeys.set(key, (macKey = Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), 'tidings.column-digest.v1', 32))));
  return `${DIGEST_PREFIX}${key.keyId}:${createHmac('sha256', macKey).update(text, 'utf8').digest('base64url')}`;
}

/** Opens the sealed values it was made for (see `columnOpener`). */
export interface ColumnOpener {
  /** The plaintext of `value`; ERASED when its user was erased; a value that is not sealed as it is. */
  open(value: string): string;
  openNullable(value: string | null): string | null;
  /** `value` (any JSON) with every sealed string in it opened (ERASED when erased). */
  openDeep<T>(value: T): T;
  /** Whether `value` holds a string sealed with a destroyed key. */
  erased(value: unknown): boolean;
}

/**
 * An opener for the sealed strings found anywhere in `values` (strings, arrays, objects),
 * with their keys read in one query. Throws KeyUnavailableError when a value is sealed and
 * this process has no key store, or names a key this database does not have (rows copied
 * from another deployment).
 */
export async function columnOpener(keys: DataKeyReader | undefined, values: Iterable<unknown>): Promise<ColumnOpener> {
  const ids = new Set<string>();
  for (const value of values) collectKeyIds(value, ids);
  if (ids.size > 0 && !keys) {
    const named = [...ids].slice(0, 3).join(', ') + (ids.size > 3 ? ` and ${ids.size - 3} more` : '');
    throw new KeyUnavailableError(`stored personal data is sealed with data key ${named}, and this process has no key-encryption key: set TIDINGS_MASTER_KEY to the one the workers use`);
  }
  const found = ids.size > 0 && keys ? await keys.keysById(ids) : new Map<string, DataKey | UserErasedError>();
  for (const id of ids) {
    if (!found.has(id)) throw new KeyUnavailableError(`stored personal data is sealed with data key ${id}, which is not in user_data_keys of this database`);
  }
  const keyOf = (value: string): DataKey | UserErasedError | undefined => {
    const id = sealedKeyId(value);
    return id === undefined ? undefined : found.get(id);
  };
  const openOne = (value: string): string => {
    const key = keyOf(value);
    if (key === undefined) return value;
    return key instanceof UserErasedError ? ERASED : open(key, value);
  };
  const openDeep = (value: unknown): unknown => {
    if (typeof value === 'string') return openOne(value);
    if (Array.isArray(value)) return value.map(openDeep);
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, openDeep(v)]));
    return value;
  };
  const erased = (value: unknown): boolean => {
    if (typeof value === 'string') return keyOf(value) instanceof UserErasedError;
    if (Array.isArray(value)) return value.some(erased);
    return isObject(value) && Object.values(value).some(erased);
  };
  return { open: openOne, openNullable: (value) => (value === null ? null : openOne(value)), openDeep: <T>(value: T) => openDeep(value) as T, erased };
}

function collectKeyIds(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    const id = isSealed(value) ? sealedKeyId(value) : undefined;
    if (id !== undefined && isKeyId(id)) into.add(id);
  } else if (Array.isArray(value)) {
    for (const item of value) collectKeyIds(item, into);
  } else if (isObject(value)) {
    for (const item of Object.values(value)) collectKeyIds(item, into);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value) && !(value instanceof Date);
}
