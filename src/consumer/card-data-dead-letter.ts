import { maskCardData, maskCardNumbersIn } from '../events/card-data';
import type { EventType } from '../events/generated';
import { TidingsError, describe } from '../errors';
import type { EventRegistry } from '../registry/event-registry';
import { FAILURE_HEADERS, originOf } from './failure-headers';
import type { InboundRecord } from './messages';

/**
 * A record refused for card data (CardDataError), as it may be kept in a DLQ: no card number
 * may reach the DLQ's log, so its value is re-encoded with every card number masked (last four
 * digits kept) through the registry, under this build's schema id for its subject; its key and
 * headers are masked too. A value that cannot be re-encoded (its subject has no schema of this
 * build) is dropped. `tidings-value-masked` says which, and where the card data was.
 *
 * Throws only what is worth retrying the chunk for (a registry that cannot be reached).
 */
export async function withCardDataMasked(registry: EventRegistry, record: InboundRecord): Promise<InboundRecord> {
  const headers = Object.fromEntries(Object.entries(record.headers).map(([name, value]) => [name, maskCardNumbersIn(value)]));
  const key = record.key === null ? null : maskCardNumbersIn(record.key);
  // The reader is cached: the record was decoded a moment ago.
  const decoded = await registry.decode(record.value);
  const { masked, paths } = maskCardData(decoded.payload);
  let value: Buffer | null = record.value;
  let note: string;
  if (paths.length === 0) {
    // Found once the personal fields were opened: the value holds it sealed with the user's key only.
    note = 'card data only inside sealed personal fields: kept sealed';
  } else {
    try {
      value = await registry.encode(decoded.definition.type as EventType, originOf(record).topic, masked);
      note = `card numbers masked in ${paths.join(', ')}`;
    } catch (error) {
      if (error instanceof TidingsError && error.retriable) throw error;
      value = null;
      note = `value removed: card data in ${paths.join(', ')}, and it could not be re-encoded masked (${describe(error)})`;
    }
  }
  return { ...record, key, value, headers: { ...headers, [FAILURE_HEADERS.valueMasked]: note } };
}
