import type { DataKeyReader } from '../crypto/personal-fields';
import type { Trx } from '../db/database';
import type { EventRecord, InboundRecord } from './messages';

/** A side effect that failed for one event; the runtime routes it by the error's type. */
export interface DeliveryFailure {
  eventId: string;
  error: unknown;
}

/**
 * What a consumer group does with events.
 *
 * `apply` runs inside the PostgreSQL transaction that also records the events in the inbox,
 * and sees only events this group has not applied before: its writes happen exactly once.
 *
 * `deliver` runs after that transaction commits and before offsets are committed, with
 * every event (new or redelivered): it performs side effects guarded by their own ledger,
 * such as sending email. It reports per-event failures (retried through the tiers or sent
 * to the DLQ according to the error type); anything it throws is treated as an
 * infrastructure outage and the whole chunk is retried in place.
 */
export interface EventHandler {
  apply(events: EventRecord[], trx: Trx): Promise<void>;
  deliver?(events: EventRecord[]): Promise<DeliveryFailure[]>;
  /**
   * Events of erased users (their data key destroyed, so their personal fields cannot be
   * read), new to the inbox: never applied nor delivered. Runs in the same transaction as
   * `apply`, to record that they were skipped (the notification group's ledger says so).
   * Only ids, type and `user_id` of their payloads mean anything.
   */
  skipErased?(events: EventRecord[], trx: Trx): Promise<void>;
}

/**
 * Reads a record into the event the inbox records and the handler sees. Throwing
 * MalformedMessageError or EventValidationError dead-letters the record, ErasedEventError
 * skips it; anything else is an outage (the chunk is retried). The default decodes through
 * the registry, opens sealed personal fields with `keys` (the chunk's data keys, when the
 * runtime has a key store) and checks the business rules; a group over records that are not
 * plain events (the dead-letter index) brings its own.
 */
export type RecordDecoder = (record: InboundRecord, keys?: DataKeyReader) => Promise<EventRecord>;
