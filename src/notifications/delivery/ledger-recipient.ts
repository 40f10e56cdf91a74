import type { ColumnSealer } from '../../crypto/sealed-columns';
import type { ChannelName } from '../channels/channel';

/** The delivery_ledger columns that say where a delivery goes. */
export interface RecipientColumns {
  /** Part of the row's unique key (event, channel, recipient): the address, or its digest when sealed. */
  recipient: string;
  /** The address sealed with the user's data key; null when `recipient` is the address itself. */
  recipient_sealed: string | null;
}

/**
 * How an address is stored in the ledger. With sealing on, `recipient` is the address's
 * digest under the user's data key: the same event, channel and address still meet the same
 * row (a duplicate plans or claims nothing new), and once the user's key is destroyed no
 * one can tell which address it was. In-app rows are addressed to the user id, which is not
 * personal data here (every table keys on it); a row with no address has an empty one.
 */
export function recipientColumns(sealer: ColumnSealer, channel: ChannelName, userId: string | null, address: string): RecipientColumns {
  if (!sealer.sealing || channel === 'in_app' || address === '' || userId === null) return { recipient: address, recipient_sealed: null };
  return { recipient: sealer.digest(userId, address), recipient_sealed: sealer.seal(userId, address) };
}

/** SQL for the address of a ledger row: the sealed one when there is one (a ColumnOpener opens it). */
export function recipientSql(alias: string): string {
  return `coalesce(${alias}.recipient_sealed, ${alias}.recipient)`;
}
