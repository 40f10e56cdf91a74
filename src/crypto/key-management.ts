import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigError, KeyUnavailableError } from '../errors';

/**
 * Who wraps and unwraps users' data keys: the key-encryption key never leaves it. Tidings
 * ships a local implementation whose key comes from configuration (TIDINGS_MASTER_KEY); a
 * cloud KMS (AWS KMS, Google Cloud KMS, Vault transit) fits the same three members, with
 * `context` passed as its encryption context / additional authenticated data.
 */
export interface KeyManagementService {
  /** Names the key-encryption key a data key was wrapped with, stored beside it (e.g. `local:3f2a…`, an ARN). */
  readonly keyRef: string;
  wrap(dataKey: Buffer, context: string): Promise<Buffer>;
  /** Throws KeyUnavailableError when `keyRef` is not this service's key or the wrapped key does not authenticate. */
  unwrap(wrapped: Buffer, keyRef: string, context: string): Promise<Buffer>;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM key wrapping with a 32-byte key-encryption key held in this process. Wrapped
 * form: 12-byte IV | ciphertext | 16-byte tag; `context` is the additional authenticated
 * data, so a wrapped key copied to another user's row does not unwrap.
 */
export class LocalKeyManagement implements KeyManagementService {
  readonly keyRef: string;
  private readonly kek: Buffer;

  constructor(keyEncryptionKey: Buffer) {
    if (keyEncryptionKey.length !== 32) throw new ConfigError(`the key-encryption key must be 32 bytes (got ${keyEncryptionKey.length})`);
    this.kek = Buffer.from(keyEncryptionKey);
    // A fingerprint, not the key: tells which key wrapped a data key without revealing it.
    this.keyRef = `local:${createHash('sha256').update('tidings.kek.v1').update(this.kek).digest('hex').slice(0, 16)}`;
  }

  /** From TIDINGS_MASTER_KEY's text: 32 bytes as base64 (44 characters) or hex (64 characters). */
  static fromSetting(value: string, setting = 'TIDINGS_MASTER_KEY'): LocalKeyManagement {
    return new LocalKeyManagement(parseKeySetting(value, setting));
  }

  async wrap(dataKey: Buffer, context: string): Promise<Buffer> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.kek, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Buffer, keyRef: string, context: string): Promise<Buffer> {
    if (keyRef !== this.keyRef) throw new KeyUnavailableError(`data key was wrapped with ${keyRef}, but the configured key-encryption key is ${this.keyRef} (check TIDINGS_MASTER_KEY)`);
    if (wrapped.length < IV_BYTES + TAG_BYTES + 1) throw new KeyUnavailableError('wrapped data key is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.kek, wrapped.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
    } catch (error) {
      throw new KeyUnavailableError(`wrapped data key does not authenticate under ${this.keyRef} for ${context}`, error);
    }
  }
}

/** 32 bytes from base64 or hex text; the error names the setting, never echoes the value. */
export function parseKeySetting(value: string, setting: string): Buffer {
  const text = value.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (bytes?.length !== 32) throw new ConfigError(`${setting} must be 32 random bytes as base64 or hex: generate one with \`openssl rand -base64 32\``);
  return bytes;
}
