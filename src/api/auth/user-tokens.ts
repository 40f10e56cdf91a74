import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Per-user tokens of the end-user API: `<userId>.<hmac>`, where hmac is the hex HMAC-SHA256 of
 * the user id under the server secret (TIDINGS_USER_TOKEN_SECRET). The service that signs its
 * users in computes it (any language can) and hands it to the user's app; the API recomputes it.
 * A token does not expire: rotating the secret revokes them all.
 */
export class UserTokens {
  constructor(private readonly secret: string) {}

  /** The HMAC alone (hex), as a backend computes it: `hmac_sha256(secret, userId)`. */
  signature(userId: string): string {
    return createHmac('sha256', this.secret).update(userId, 'utf8').digest('hex');
  }

  /** The token an app sends: `<userId>.<hmac>`. */
  issue(userId: string): string {
    return `${userId}.${this.signature(userId)}`;
  }

  /** The user `token` proves, or undefined when it is malformed or its HMAC does not match. */
  verify(token: string): string | undefined {
    // The HMAC is the part after the last dot, so user ids may contain dots.
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const userId = token.slice(0, dot);
    const presented = Buffer.from(token.slice(dot + 1), 'utf8');
    const expected = Buffer.from(this.signature(userId), 'utf8');
    return presented.length === expected.length && timingSafeEqual(presented, expected) ? userId : undefined;
  }
}
