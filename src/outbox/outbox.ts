import type { Type } from 'avsc';
import { z } from 'zod';
import type { Trx } from '../db/database';
import { DEFAULT_DB_SCHEMA, dbSchemaName } from '../db/schema-name';
import { getEventDefinition } from '../events/catalog';
import type { EventMap, EventType } from '../events/generated';
import { validateEvent } from '../events/validate';
import type { TopicNames } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/logger';
import { parseOptions } from '../config/options';
import { topicNamesSchema } from '../producer/options';
import { callerTraceparent, eventHeaders, KEY_ID_HEADER, topicForEvent, type PublishOptions } from '../producer/publisher';
import type { DataKeyStore } from '../crypto/data-key-store';
import { EventSealer } from '../producer/event-sealer';

export const OUTBOX_TABLE = 'outbox';

export interface OutboxOptions {
  /** Topic names per domain. Default `auth.events` and `payment.events`. */
  topics?: TopicNames;
  /**
   * The schema of Tidings' tables (where `migrate` put them). The caller's transaction may
   * have any search_path, so the table is named with it. Default `tidings`.
   */
  schema?: string;
  logger?: Logger;
  /**
   * Users' data keys: the row holds the event with its personal fields already sealed (the
   * relay publishes the bytes as they are). Default: none. `Platform.createOutbox` passes `Platform.dataKeys`.
   */
  dataKeys?: DataKeyStore;
}

const settingsSchema = z.object({ topics: topicNamesSchema, schema: dbSchemaName.default(DEFAULT_DB_SCHEMA) });

/** Row shape of the `outbox` table as the relay reads it. */
export interface OutboxRow {
  id: string;
  event_id: string;
  event_type: string;
  topic: string;
  message_key: string | null;
  /** The Confluent wire format when `avro_fingerprint` is null, else the Avro body alone. */
  value: Buffer;
  /** SHA-256 of the Parsing Canonical Form of the schema the body was written with. */
  avro_fingerprint: string | null;
  /** `traceparent` here is the context the event was enqueued in (rows of older versions: a child id of it). */
  headers: Record<string, string>;
  occurred_at: Date | null;
}

/** The fingerprint an Avro body is stored with (of the schema's canonical form): equal fingerprints, equal encoding. */
export function avroFingerprint(type: Type): string {
  let fingerprint = fingerprints.get(type);
  if (fingerprint === undefined) {
    fingerprint = type.fingerprint('sha256').toString('hex');
    fingerprints.set(type, fingerprint);
  }
  return fingerprint;
}

const fingerprints = new WeakMap<Type, string>();

/**
 * The transactional outbox: `enqueue` writes an event into the caller's transaction, so the
 * event exists if and only if that transaction commits. The outbox relay publishes it.
 *
 * Nothing but PostgreSQL is touched inside the caller's transaction: the event is validated
 * (schema and business rules, as `Publisher.publish` does) and stored as its Avro body with
 * the fingerprint of the schema that wrote it; the relay looks the schema id up in the
 * registry and frames the Confluent wire format when it publishes. So a registry outage
 * delays publishing, never the caller's write, and a consumer cannot tell the two paths apart.
 * With `dataKeys`, personal fields are sealed first; a user's first event creates their data
 * key (through the KMS, committed on its own connection: a key outliving a rolled-back
 * transaction seals nothing and costs nothing).
 */
export class Outbox {
  private readonly topics: TopicNames;
  private readonly schema: string;
  private readonly logger: Logger;
  private readonly sealer: EventSealer | undefined;

  constructor(options: OutboxOptions = {}) {
    const { logger, dataKeys, ...rest } = options;
    ({ topics: this.topics, schema: this.schema } = parseOptions('outbox', settingsSchema, rest));
    this.logger = logger ?? createLogger('outbox');
    this.sealer = dataKeys && new EventSealer(dataKeys);
  }

  async enqueue<T extends EventType>(trx: Trx, type: T, event: EventMap[T], options: PublishOptions = {}): Promise<{ id: string }> {
    validateEvent(type, event);
    // Sealed before it is stored: the row, the relay and the topic never hold the plain values.
    const { event: stored, keyId } = this.sealer ? await this.sealer.seal(type, event) : { event, keyId: undefined };
    const headers = eventHeaders(type, event.event_id, options, callerTraceparent(options) ?? null);
    if (keyId !== undefined) headers[KEY_ID_HEADER] = keyId;
    const topic = topicForEvent(this.topics, type);
    const { avroType } = getEventDefinition(type);
    const [{ id }] = (await trx(OUTBOX_TABLE)
      .withSchema(this.schema)
      .insert({
        event_id: event.event_id,
        event_type: type,
        topic,
        message_key: event.user_id,
        value: avroType.toBuffer(stored),
        avro_fingerprint: avroFingerprint(avroType),
        // The caller's trace context, if any: the relay publishes the event as its child.
        headers,
        occurred_at: new Date(event.occurred_at),
      })
      .returning('id')) as [{ id: string }];
    this.logger.debug({ id, type, eventId: event.event_id }, 'event written to the outbox');
    return { id };
  }
}
