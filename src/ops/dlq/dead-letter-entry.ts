import { FAILURE_HEADERS } from '../../consumer/failure-headers';
import type { InboundRecord } from '../../consumer/messages';
import { isEventType } from '../../events/catalog';
import { maskPersonalData, maskValuesIn } from '../../events/personal-data';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER } from '../../producer/publisher';
import type { DecodedEvent } from '../../registry/event-registry';
import type { NewDeadLetter } from './dead-letter-store';

/**
 * The index row of a record read from a DLQ topic: its coordinates, the failure headers the
 * runtime added (src/consumer/failure-headers.ts) and, when its value decodes, the event's
 * type, id and user. `decoded` is undefined for bytes no schema reads (they are indexed too,
 * from the headers alone). Personal values of the payload are masked in the error message.
 */
export function deadLetterEntry(record: InboundRecord, decoded: DecodedEvent | undefined): NewDeadLetter {
  const h = record.headers;
  const payload = decoded?.payload;
  const declaredType = h[EVENT_TYPE_HEADER];
  const personal = decoded ? maskPersonalData(decoded.definition.schema, decoded.payload).values : [];
  const message = h[FAILURE_HEADERS.errorMessage];
  return {
    dlq_topic: record.topic,
    dlq_partition: record.partition,
    dlq_offset: record.offset,
    record_key: record.key,
    user_id: stringOr(payload?.user_id, h[FAILURE_HEADERS.originalKey] ?? record.key),
    event_type: decoded ? decoded.definition.type : declaredType !== undefined && isEventType(declaredType) ? declaredType : null,
    event_id: stringOr(payload?.event_id, h[EVENT_ID_HEADER] ?? null),
    consumer_group: h[FAILURE_HEADERS.consumerGroup] ?? null,
    error_class: h[FAILURE_HEADERS.errorClass] ?? null,
    error_code: h[FAILURE_HEADERS.errorCode] ?? null,
    error_message: message === undefined ? null : maskValuesIn(message, personal),
    attempts: integerOr(h[FAILURE_HEADERS.attempts], 0),
    source_topic: h[FAILURE_HEADERS.originalTopic] ?? null,
    source_partition: integerOr(h[FAILURE_HEADERS.originalPartition], null),
    source_offset: /^\d+$/.test(h[FAILURE_HEADERS.originalOffset] ?? '') ? (h[FAILURE_HEADERS.originalOffset] as string) : null,
    first_failure_at: dateOr(Date.parse(h[FAILURE_HEADERS.firstFailureAt] ?? '')),
    dead_lettered_at: dateOr(Number(record.timestamp)) ?? new Date(),
  };
}

function stringOr(value: unknown, fallback: string | null): string | null {
  return typeof value === 'string' && value.length > 0 ? value : fallback;
}

function integerOr<T extends number | null>(value: string | undefined, fallback: T): number | T {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isInteger(n) ? n : fallback;
}

function dateOr(ms: number): Date | null {
  return Number.isFinite(ms) ? new Date(ms) : null;
}
