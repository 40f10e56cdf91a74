import type { KafkaMessage } from 'kafkajs';
import { decodeEvent } from '../../consumer/chunk-processor';
import { toInboundRecord, type EventRecord, type InboundRecord } from '../../consumer/messages';
import { EventValidationError, MalformedMessageError } from '../../errors';
import type { EventRegistry } from '../../registry/event-registry';

/** A record of the range: as read (for a copy), as the runtime reads it, and its event when it is one. */
export interface ReplayRecord {
  message: KafkaMessage;
  record: InboundRecord;
  event?: EventRecord;
}

/** The event-type key of a record that is not a valid event, in counts. */
export const NOT_AN_EVENT = '(not an event)';

export interface FilterResult {
  matched: ReplayRecord[];
  filteredOut: number;
  malformed: number;
}

/**
 * `--type` and `--user`: decodes each record as the groups do and keeps the matching events.
 * A record that is not a valid event never matches a filter; without filters it is kept only
 * when `keepMalformed` (a republish copies bytes, a group would only dead-letter it again).
 * Errors other than a bad record (the registry unreachable) are thrown.
 */
export class RecordFilter {
  constructor(
    private readonly registry: EventRegistry,
    private readonly filter: { types: readonly string[]; user?: string; keepMalformed: boolean },
  ) {}

  async apply(topic: string, partition: number, messages: KafkaMessage[]): Promise<FilterResult> {
    const out: FilterResult = { matched: [], filteredOut: 0, malformed: 0 };
    const { types, user, keepMalformed } = this.filter;
    const filtering = types.length > 0 || user !== undefined;
    for (const message of messages) {
      const record = toInboundRecord(topic, partition, message);
      let event: EventRecord;
      try {
        event = await decodeEvent(this.registry, record);
      } catch (error) {
        if (!(error instanceof MalformedMessageError || error instanceof EventValidationError)) throw error;
        out.malformed++;
        if (keepMalformed && !filtering) out.matched.push({ message, record });
        continue;
      }
      if ((types.length > 0 && !types.includes(event.type)) || (user !== undefined && String(event.payload.user_id) !== user)) {
        out.filteredOut++;
        continue;
      }
      out.matched.push({ message, record, event });
    }
    return out;
  }
}
