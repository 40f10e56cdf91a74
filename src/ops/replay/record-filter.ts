import type { KafkaMessage } from 'kafkajs';
import { decodeEvent } from '../../consumer/chunk-processor';
import { ChunkKeys } from '../../consumer/chunk-keys';
import { ErasedEventError } from '../../consumer/erased-event';
import { toInboundRecord, type EventRecord, type InboundRecord } from '../../consumer/messages';
import type { DataKeyReader } from '../../crypto/personal-fields';
import { EventValidationError, MalformedMessageError } from '../../errors';
import type { EventRegistry } from '../../registry/event-registry';

/** A record of the range: as read (for a copy), as the runtime reads it, and its event when it is one. */
export interface ReplayRecord {
  message: KafkaMessage;
  record: InboundRecord;
  event?: EventRecord;
  /**
   * Set instead of `event` when the event's user was erased: its type and ids, nothing else
   * readable. A group the record is replayed to skips it as it does live.
   */
  erased?: EventRecord;
}

/** The event-type key of a record that is not a valid event, in counts. */
export const NOT_AN_EVENT = '(not an event)';

/** The event type a record is counted under. */
export function countedType(r: ReplayRecord): string {
  return r.event?.type ?? r.erased?.type ?? NOT_AN_EVENT;
}

export interface FilterResult {
  matched: ReplayRecord[];
  filteredOut: number;
  malformed: number;
  /** Matching records of erased users (their data key destroyed). */
  erased: number;
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
    /** Users' data keys, to open sealed personal fields as the groups do (`Platform.dataKeys`). */
    private readonly dataKeys?: DataKeyReader,
  ) {}

  async apply(topic: string, partition: number, messages: KafkaMessage[]): Promise<FilterResult> {
    const out: FilterResult = { matched: [], filteredOut: 0, malformed: 0, erased: 0 };
    const { types, user, keepMalformed } = this.filter;
    const filtering = types.length > 0 || user !== undefined;
    // `--type` alone: told from the schema id first, so only the kept records are converted.
    const selected = types.length > 0 && user === undefined ? await this.ofTypes(messages, out) : messages;
    const candidates = selected.map((message) => ({ message, record: toInboundRecord(topic, partition, message) }));
    const keys = this.dataKeys && new ChunkKeys(this.dataKeys, candidates.map((c) => c.record));
    for (const { message, record } of candidates) {
      let event: EventRecord;
      try {
        event = await decodeEvent(this.registry, record, keys);
      } catch (error) {
        if (error instanceof ErasedEventError) {
          // Type and user are not personal: the filters still apply to it.
          if (this.matches(error.event)) {
            out.erased++;
            out.matched.push({ message, record, erased: error.event });
          } else out.filteredOut++;
          continue;
        }
        if (!(error instanceof MalformedMessageError || error instanceof EventValidationError)) throw error;
        out.malformed++;
        if (keepMalformed && !filtering) out.matched.push({ message, record });
        continue;
      }
      if (!this.matches(event)) {
        out.filteredOut++;
        continue;
      }
      out.matched.push({ message, record, event });
    }
    return out;
  }

  /**
   * `--type` alone: the records whose schema is of one of the types, told from the schema id
   * without decoding the body (a dry run over a mixed topic decodes only what it keeps). The
   * others are filtered out as decoding them would have done; one whose frame no schema
   * reads is malformed, as decoding would say. A record of another type whose body is
   * corrupt is counted filtered out, not malformed: it would not be replayed either way.
   */
  private async ofTypes(messages: KafkaMessage[], out: FilterResult): Promise<KafkaMessage[]> {
    const kept: KafkaMessage[] = [];
    for (const message of messages) {
      let type: string;
      try {
        // A promise per record only until each schema id has been seen once.
        type = this.registry.knownTypeOf(message.value) ?? (await this.registry.typeOf(message.value));
      } catch (error) {
        if (!(error instanceof MalformedMessageError)) throw error;
        out.malformed++;
        continue;
      }
      if (this.filter.types.includes(type)) kept.push(message);
      else out.filteredOut++;
    }
    return kept;
  }

  private matches(event: EventRecord): boolean {
    const { types, user } = this.filter;
    return !((types.length > 0 && !types.includes(event.type)) || (user !== undefined && String(event.payload.user_id) !== user));
  }
}
