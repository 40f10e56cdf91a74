import type { EventHandler } from '../consumer/event-handler';
import { originOf } from '../consumer/failure-headers';
import type { EventRecord } from '../consumer/messages';
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

/** The audit group's handler: appends every new event to the hash-chained audit log. */
export class AuditHandler implements EventHandler {
  readonly stats: AuditStats = { appended: 0 };

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    this.stats.appended += await appendToAuditLog(trx, events.map(toAuditEntry));
  }
}

export function toAuditEntry(event: EventRecord): AuditEntry {
  // A record read back from a retry tier is logged under its original coordinates.
  const origin = originOf(event);
  const occurredAt = event.payload.occurred_at;
  return {
    eventId: event.eventId,
    eventType: event.type,
    userId: String(event.payload.user_id ?? origin.key ?? ''),
    topic: origin.topic,
    partition: origin.partition,
    offset: origin.offset,
    source: event.headers[SOURCE_HEADER] || origin.topic,
    occurredAt: new Date(typeof occurredAt === 'number' ? occurredAt : Number(event.timestamp)),
    // Normalised through canonical JSON so what is stored is exactly what is hashed.
    payload: JSON.parse(canonicalJson(event.payload)) as JsonValue,
  };
}
