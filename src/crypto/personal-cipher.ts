import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { MalformedMessageError } from '../errors';

/**
 * A personal value sealed with its user's data key (AES-256-GCM), as text, so it fits the
 * string field or column it replaces:
 *
 *   tdk1:<key id>:<base64url 12-byte IV>:<base64url ciphertext and 16-byte tag>
 *
 * The additional authenticated data is `tdk1:<key id>`. The key id names the user's data key
 * (table `user_data_keys`); once that key is destroyed the value cannot be read by anyone.
 */
export const SEALED_PREFIX = 'tdk1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^tdk1:([0-9a-f-]{36}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22,})$/;

/** A user's data key, unwrapped. */
export interface DataKey {
  keyId: string;
  userId: string;
  key: Buffer;
}

export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_PREFIX);
}

/** The data key a sealed value needs; undefined when `value` is not sealed. */
export function sealedKeyId(value: string): string | undefined {
  return SEALED.exec(value)?.[1];
}

/**
 * Random IVs drawn from one buffer filled at a time: one call into the random generator per
 * 1,024 seals instead of one per seal (a large share of sealing's cost on the publish path).
 * Each IV is used once; the buffer is refilled when used up.
 */
const IV_POOL = Buffer.alloc(IV_BYTES * 1024);
let ivOffset = IV_POOL.length;

function nextIv(): Buffer {
  if (ivOffset === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivOffset = 0;
  }
  // A copy: the pool is overwritten on refill, and the IV travels in the sealed text.
  const iv = Buffer.from(IV_POOL.subarray(ivOffset, ivOffset + IV_BYTES));
  ivOffset += IV_BYTES;
  return iv;
}

export function seal(key: DataKey, plaintext: string): string {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(aad(key.keyId));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${SEALED_PREFIX}${key.keyId}:${iv.toString('base64url')}:${body.toString('base64url')}`;
}

/** The plaintext of a value sealed with `key`; MalformedMessageError when it was sealed with another key or was altered. */
export function open(key: DataKey, sealed: string): string {
  const parts = SEALED.exec(sealed);
  if (!parts) throw new MalformedMessageError('not a sealed value (expected tdk1:<key id>:<iv>:<ciphertext>)');
  const [, keyId, iv, body] = parts as unknown as [string, string, string, string];
  if (keyId !== key.keyId) throw new MalformedMessageError(`value is sealed with data key ${keyId}, not ${key.keyId}`);
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length < TAG_BYTES) throw new MalformedMessageError(`sealed value under data key ${keyId} is truncated`);
  const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(aad(keyId));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new MalformedMessageError(`sealed value under data key ${keyId} does not authenticate`, error);
  }
}

function aad(keyId: string): Buffer {
  return Buffer.from(`${SEALED_PREFIX}${keyId}`, 'utf8');
}
