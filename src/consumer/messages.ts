import type { ConsumedRecord, RecordHeaders } from '../kafka/driver';
import type { EventType } from '../events/generated';

/** A record as read from a topic, before decoding. */
export interface InboundRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** A record decoded into a Tidings event. */
export interface EventRecord extends InboundRecord {
  type: EventType;
  eventId: string;
  schemaId: number;
  payload: Record<string, unknown>;
}

export function toInboundRecord(topic: string, partition: number, message: ConsumedRecord): InboundRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key ? message.key.toString('utf8') : null,
    value: message.value,
    headers: stringHeaders(message.headers),
  };
}

function stringHeaders(headers: RecordHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}
