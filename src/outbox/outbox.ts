import type { Trx } from '../db/database';
import type { EventMap, EventType } from '../events/generated';
import { validateEvent } from '../events/validate';
import { DEFAULT_TOPICS, type TopicNames } from '../kafka/topics';
import { eventHeaders, topicForEvent, type PublishOptions } from '../producer/publisher';
import type { EventRegistry } from '../registry/event-registry';

export const OUTBOX_TABLE = 'outbox';

export interface OutboxOptions {
  registry: EventRegistry;
  /** Topic names per domain. Default `auth.events` and `payment.events`. */
  topics?: TopicNames;
}

/** Row shape of the `outbox` table as the relay reads it. */
export interface OutboxRow {
  id: string;
  event_id: string;
  event_type: string;
  topic: string;
  message_key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  occurred_at: Date | null;
}

/**
 * The transactional outbox: `enqueue` writes an event into the caller's transaction, so the
 * event exists if and only if that transaction commits. The outbox relay publishes it.
 * Validation, headers and encoding are the same as `Publisher.publish`, so a consumer
 * cannot tell the two paths apart.
 */
export class Outbox {
  private readonly topics: TopicNames;

  constructor(private readonly options: OutboxOptions) {
    this.topics = options.topics ?? DEFAULT_TOPICS;
  }

  async enqueue<T extends EventType>(trx: Trx, type: T, event: EventMap[T], options: PublishOptions = {}): Promise<{ id: string }> {
    validateEvent(type, event);
    const topic = topicForEvent(this.topics, type);
    // Encoded before the insert: a registry failure aborts the caller's transaction, not the relay.
    const value = await this.options.registry.encode(type, topic, event);
    const [{ id }] = (await trx(OUTBOX_TABLE)
      .insert({
        event_id: event.event_id,
        event_type: type,
        topic,
        message_key: event.user_id,
        value,
        headers: eventHeaders(type, event.event_id, options),
        occurred_at: new Date(event.occurred_at),
      })
      .returning('id')) as [{ id: string }];
    return { id };
  }
}
