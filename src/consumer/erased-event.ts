import { UserErasedError } from '../errors';
import type { EventRecord } from './messages';

/**
 * A record whose user was erased: its personal fields are sealed with a destroyed data key.
 * It is not bad data (not dead-lettered) and not an outage (not retried): each group skips
 * it, and may record that it did (the notification group writes a ledger row saying so).
 * `event` identifies it; its payload's personal fields stay sealed and mean nothing.
 */
export class ErasedEventError extends UserErasedError {
  constructor(
    readonly event: EventRecord,
    keyId: string,
  ) {
    super(keyId);
  }
}
