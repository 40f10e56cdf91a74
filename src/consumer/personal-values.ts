import { getEventDefinition } from '../events/catalog';
import { maskPersonalData } from '../events/personal-data';
import type { EventRecord, InboundRecord } from './messages';

/**
 * The personal values of a decoded event (its schema's `tidings.personal` fields, opened), to
 * mask wherever error text repeats them: a mail server quoting the recipient's name, which no
 * pattern recognises. None for a record that was not decoded.
 */
export function personalValuesOf(record: InboundRecord | EventRecord): string[] {
  if (!('payload' in record)) return [];
  return maskPersonalData(getEventDefinition(record.type).schema, record.payload).values;
}
