import type { EventHandler } from '../consumer/event-handler';
import { originOf } from '../consumer/failure-headers';
import type { EventRecord } from '../consumer/messages';
import type { DataKeyStore } from '../crypto/data-key-store';
import { columnSealer } from '../crypto/sealed-columns';
import type { Trx } from '../db/database';
import { appendToAuditLog, type AuditEntry } from './audit-log';
import { canonicalJson, type JsonValue } from './content-hash';

/**
 * Header a producing service may set to name itself (e.g. `billing-api`); without it the
 * audit log names the topic as the source.
 */
export const SOURCE_HEADER = 'tidings-source';

export interface AuditStats {
  appended: number;
}

export interface AuditHandlerOptions {
  /**
   * Users' data keys (`Platform.dataKeys`): the personal fields of each payload are then
   * stored sealed with the user's key, and the chain covers them as stored, so an erasure
   * makes them unreadable without breaking the chain.
   */
  dataKeys?: DataKeyStore;
}

/** The audit group's handler: appends every new event to the hash-chained audit log. */
export class AuditHandler implements EventHandler {
  readonly stats: AuditStats = { appended: 0 };

  constructor(private readonly options: AuditHandlerOptions = {}) {}

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    const sealer = await columnSealer(this.options.dataKeys, events.map(userIdOf));
    const sealed = sealer.sealing ? events.map((e) => ({ ...e, payload: sealer.sealPayload(e.type, userIdOf(e), e.payload) })) : events;
    this.stats.appended += await appendToAuditLog(trx, sealed.map(toAuditEntry));
  }
}

/** The user an event belongs to: its `user_id`, or the record key of one that has none. */
function userIdOf(event: EventRecord): string {
  return String(event.payload.user_id ?? originOf(event).key ?? '');
}

export function toAuditEntry(event: EventRecord): AuditEntry {
  // A record read back from a retry tier is logged under its original coordinates.
  const origin = originOf(event);
  const occurredAt = event.payload.occurred_at;
  return {
    eventId: event.eventId,
    eventType: event.type,
    userId: userIdOf(event),
    topic: origin.topic,
    partition: origin.partition,
    offset: origin.offset,
    source: event.headers[SOURCE_HEADER] || origin.topic,
    occurredAt: new Date(typeof occurredAt === 'number' ? occurredAt : Number(event.timestamp)),
    // Normalised through canonical JSON so what is stored is exactly what is hashed.
    payload: JSON.parse(canonicalJson(event.payload)) as JsonValue,
  };
}
