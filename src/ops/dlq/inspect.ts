import type { Kafka } from 'kafkajs';
import type { Db } from '../../db/database';
import { MalformedMessageError, describe } from '../../errors';
import { maskPersonalData, maskValuesIn } from '../../events/personal-data';
import { openWherePossible, type DataKeyReader } from '../../crypto/personal-fields';
import type { EventRegistry } from '../../registry/event-registry';
import { HEADER_LENGTH, MAGIC_BYTE } from '../../registry/wire-format';
import { noSuchDeadLetter, recordGone } from './dead-letter-errors';
import { findDeadLetter, recordAddressOf, type DeadLetter } from './dead-letter-store';
import { addressKey, readRecords } from './record-reader';

/** A dead letter as an operator sees it: its index row and its Kafka record, decoded, personal data masked. */
export interface DeadLetterView {
  deadLetter: DeadLetter;
  key: string | null;
  /** Every header of the record; personal values of the payload are masked where a header repeats them. */
  headers: Record<string, string>;
  /** The decoded payload with its personal fields masked; null when the value does not decode. */
  payload: Record<string, unknown> | null;
  /** Where personal data was masked (`recipient.email`), as the schema marks it (`"tidings.personal": true`). */
  maskedFields: string[];
  schemaId: number | null;
  /** Why the value does not decode, its size, and its wire header (magic byte, schema id) if it has one; the bytes are not shown. */
  undecodable: { reason: string; bytes: number; wireHeader: string | null } | null;
}

/**
 * Reads a dead letter's record from Kafka (the source of truth) by its coordinates in the
 * index and decodes it through the registry. Which fields are personal is read from the
 * event's schema; a value that does not decode is not shown at all, since nothing says
 * which of its bytes are personal.
 */
export async function inspectDeadLetter(deps: { db: Db; kafka: Kafka; registry: EventRegistry; dataKeys?: DataKeyReader }, id: string): Promise<DeadLetterView> {
  const deadLetter = await findDeadLetter(deps.db, id);
  if (!deadLetter) throw noSuchDeadLetter(id);
  const address = recordAddressOf(deadLetter);
  const record = (await readRecords(deps.kafka, [address])).get(addressKey(address));
  if (!record) throw recordGone(id, addressKey(address));
  try {
    const decoded = await deps.registry.decode(record.value);
    // Sealed values are masked like plain ones; opened where possible, to mask headers quoting them too.
    const payload = await openWherePossible(decoded.definition.schema, decoded.payload, deps.dataKeys);
    const { masked, paths, values } = maskPersonalData(decoded.definition.schema, payload);
    const headers = Object.fromEntries(Object.entries(record.headers).map(([name, value]) => [name, maskValuesIn(value, values)]));
    return { deadLetter, key: record.key, headers, payload: masked, maskedFields: paths, schemaId: decoded.schemaId, undecodable: null };
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    const value = record.value ?? Buffer.alloc(0);
    const wireHeader = value.length >= HEADER_LENGTH && value[0] === MAGIC_BYTE ? `magic byte ${MAGIC_BYTE}, schema id ${value.readUInt32BE(1)}` : null;
    return {
      deadLetter,
      key: record.key,
      headers: record.headers,
      payload: null,
      maskedFields: [],
      schemaId: null,
      undecodable: { reason: describe(error), bytes: value.length, wireHeader },
    };
  }
}
