import { TidingsError, UnknownEventTypeError } from '../errors';
import { getEventDefinition, type EventDefinition } from '../events/catalog';
import { subjectFor, type EventRegistry } from '../registry/event-registry';
import { HEADER_LENGTH, MAGIC_BYTE } from '../registry/wire-format';
import { avroFingerprint, type OutboxRow } from './outbox';

/** Why a row can never be published as it is; it is set aside with this. */
export interface Refusal {
  code: string;
  reason: string;
}

export type Encoded = { row: OutboxRow; value: Buffer } | { row: OutboxRow; refusal: Refusal };

/**
 * Turns outbox rows into record values. A row written by `Outbox.enqueue` holds the Avro body
 * and the fingerprint of its schema: the schema id is looked up now (cached by the registry)
 * and the Confluent header put in front. A row without a fingerprint already holds the wire
 * format. A registry that cannot be reached throws (the relay retries the batch); a row that
 * cannot be encoded whatever happens is returned with its refusal.
 */
export class RowEncoder {
  constructor(private readonly registry: EventRegistry) {}

  async encode(row: OutboxRow): Promise<Encoded> {
    if (row.avro_fingerprint === null) return { row, value: row.value };
    let definition: EventDefinition;
    try {
      definition = getEventDefinition(row.event_type);
    } catch (error) {
      if (error instanceof UnknownEventTypeError) return { row, refusal: { code: 'EVENT_TYPE_UNKNOWN', reason: error.message } };
      throw error;
    }
    if (avroFingerprint(definition.avroType) !== row.avro_fingerprint) {
      // Written by a build with another schema of this type: framing it with ours would mislabel the bytes.
      const reason = `written with a schema of ${row.event_type} this relay does not have (fingerprint ${row.avro_fingerprint}); run a relay of the writer's build`;
      return { row, refusal: { code: 'SCHEMA_UNKNOWN', reason } };
    }
    try {
      return { row, value: withSchemaId(await this.registry.schemaId(definition.type, row.topic), row.value) };
    } catch (error) {
      // Only a schema the registry does not have is this row's problem; any other refusal
      // (credentials, a misconfigured URL) would set every row aside, so it is retried.
      if (error instanceof TidingsError && !error.retriable) {
        const subject = subjectFor(row.topic, definition);
        if ((await this.registry.findSchemaId(subject, definition.schema)) === undefined) {
          return { row, refusal: { code: 'SCHEMA_NOT_REGISTERED', reason: error.message } };
        }
      }
      throw error;
    }
  }
}

/** The Confluent header (magic byte, schema id) in front of an Avro body written without one. */
function withSchemaId(schemaId: number, body: Buffer): Buffer {
  const value = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  value[0] = MAGIC_BYTE;
  value.writeInt32BE(schemaId, 1);
  body.copy(value, HEADER_LENGTH);
  return value;
}
