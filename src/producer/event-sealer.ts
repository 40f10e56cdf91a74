import type { DataKeyStore } from '../crypto/data-key-store';
import { hasPersonalValues, sealPersonalFields } from '../crypto/personal-fields';
import { getEventDefinition } from '../events/catalog';
import type { EventMap, EventType } from '../events/generated';

/** An event ready to encode: its personal values sealed, and the data key that sealed them. */
export interface SealedEvent<T extends EventType = EventType> {
  event: EventMap[T];
  /** Undefined when the event had no personal value to seal. */
  keyId?: string;
}

/**
 * Seals the personal fields of events with their user's data key before they are encoded
 * (publisher and outbox). A user's events come out in the order they went in: a key still
 * being fetched (first event of a user, or the cache expired) holds that user's later events
 * behind it, even those with nothing to seal; other users are not held. Keys are cached by
 * the store, so most calls are synchronous: the AES-GCM work and nothing else.
 */
export class EventSealer {
  /** Per user, the last seal still running; removed once settled. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly keys: DataKeyStore) {}

  /** Synchronous when the user's key is cached (or nothing is to be sealed) and nothing of this user is still being sealed. */
  seal<T extends EventType>(type: T, event: EventMap[T]): SealedEvent<T> | Promise<SealedEvent<T>> {
    const { schema } = getEventDefinition(type);
    const userId = event.user_id;
    const before = this.running.get(userId);
    const personal = hasPersonalValues(schema, event as unknown as Record<string, unknown>);
    if (!before) {
      if (!personal) return { event };
      const cached = this.keys.cachedKeyForUser(userId);
      if (cached) return { event: sealPersonalFields(schema, event, cached), keyId: cached.keyId };
    }
    const work = async (): Promise<SealedEvent<T>> => {
      if (!personal) return { event };
      const key = await this.keys.keyForUser(userId);
      return { event: sealPersonalFields(schema, event, key), keyId: key.keyId };
    };
    // After the user's previous seal, whether it worked or not (its own caller gets its error).
    const sealed = before ? before.then(work, work) : work();
    this.running.set(userId, sealed);
    const forget = (): void => {
      if (this.running.get(userId) === sealed) this.running.delete(userId);
    };
    sealed.then(forget, forget);
    return sealed;
  }
}
