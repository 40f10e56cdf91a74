import { createHash } from 'node:crypto';
import type { Trx } from '../../db/database';
import type { EventHandler, RecordDecoder } from '../../consumer/event-handler';
import type { EventRecord, InboundRecord } from '../../consumer/messages';
import { MalformedMessageError } from '../../errors';
import { openWherePossible } from '../../crypto/personal-fields';
import type { EventType } from '../../events/generated';
import type { DecodedEvent, EventRegistry } from '../../registry/event-registry';
import { deadLetterEntry } from './dead-letter-entry';
import { insertDeadLetters, type NewDeadLetter } from './dead-letter-store';

/** A DLQ record as the index group's runtime carries it: the event the inbox records, and the index row. */
interface DeadLetterEvent extends EventRecord {
  deadLetter: NewDeadLetter;
}

/**
 * The inbox type of a dead letter whose bytes no schema reads (the inbox needs one; the
 * index row keeps the producer's declared type, if any, or none).
 */
const UNREADABLE = 'UNREADABLE' as EventType;

/**
 * How the index group reads a DLQ record. Unlike other groups it takes every record, bytes
 * that do not decode included (they are what operators look for first), and identifies it by
 * its coordinates rather than its event id: one event can be dead-lettered more than once
 * (by two groups, or again after a redrive), and each of those records is a dead letter.
 */
export function deadLetterDecoder(registry: EventRegistry): RecordDecoder {
  return async (record, keys) => {
    let decoded: DecodedEvent | undefined;
    try {
      decoded = await registry.decode(record.value);
    } catch (error) {
      // Anything else (the registry unreachable) is an outage: the chunk is retried.
      if (!(error instanceof MalformedMessageError)) throw error;
    }
    // Sealed personal values opened where the keys allow, so the error text is masked where it quotes them.
    if (decoded) decoded = { ...decoded, payload: await openWherePossible(decoded.definition.schema, decoded.payload, keys) };
    const event: DeadLetterEvent = {
      ...record,
      type: decoded ? decoded.definition.type : UNREADABLE,
      eventId: coordinatesId(record),
      schemaId: decoded?.schemaId ?? 0,
      payload: decoded?.payload ?? {},
      deadLetter: deadLetterEntry(record, decoded),
    };
    return event;
  };
}

/** Writes the index rows, in the transaction that records the DLQ records in the group's inbox. */
export class DeadLetterIndexHandler implements EventHandler {
  readonly stats = { indexed: 0 };

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    this.stats.indexed += await insertDeadLetters(trx, events.map(entryOf));
  }
}

function entryOf(event: EventRecord): NewDeadLetter {
  if (!('deadLetter' in event)) throw new Error(`${event.topic}/${event.partition}/${event.offset} was not read by deadLetterDecoder`);
  return (event as DeadLetterEvent).deadLetter;
}

/** A UUID (version 5 layout) named by the record's topic, partition and offset: the same record, the same id. */
function coordinatesId(record: InboundRecord): string {
  const bytes = createHash('sha1').update(`tidings-dead-letter\u0000${record.topic}\u0000${record.partition}\u0000${record.offset}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
