import type { EventRecord } from '../../consumer/messages';
import type { DataKeyStore } from '../../crypto/data-key-store';
import { columnOpener, columnSealer } from '../../crypto/sealed-columns';
import type { Db } from '../../db/database';
import type { EventMap, EventType } from '../../events/generated';
import type { ChannelName } from '../channels/channel';
import { decide, type UserPreferences } from '../preferences';
import { routeOf, type ChannelRoute, type Route } from '../routing';
import { recipientColumns, type RecipientColumns } from './ledger-recipient';

/** A ledger row as planned in the effects transaction. */
export type PlannedRow = {
  event_id: string;
  event_type: string;
  channel: ChannelName;
  recipient: string;
  user_id: string;
  status: 'pending' | 'suppressed' | 'sent';
  reason: string | null;
  // Set when the row was delivered in the effects transaction (in-app).
  provider?: string;
  provider_message_id?: string;
  template_version?: string;
  attempts?: number;
};

/**
 * The ledger rows of one event, following the routing table: one per routed channel and
 * address, `pending` or `suppressed` with the reason (opted out, not opted in, no address,
 * channel disabled here). A channel with no way to reach the user hands over to its fallback.
 */
export function planDeliveries(event: EventRecord, prefs: UserPreferences | undefined, tokens: Map<string, string[]>, enabled: (channel: ChannelName) => boolean): PlannedRow[] {
  const route = routeOf(event.type) as Route<EventType>;
  const payload = event.payload as unknown as EventMap[EventType];
  const userId = payload.user_id;
  const planned = new Set<ChannelName>();
  const rows: PlannedRow[] = [];
  const add = (channelRoute: ChannelRoute<EventType>): void => {
    if (planned.has(channelRoute.channel)) return;
    planned.add(channelRoute.channel);
    const decision = decide(route, channelRoute, prefs);
    const addresses = addressesOf(channelRoute.channel, payload, tokens.get(userId) ?? []);
    const base = { event_id: event.eventId, event_type: event.type, channel: channelRoute.channel, user_id: userId };
    const disabled = !enabled(channelRoute.channel);
    if (disabled || addresses.length === 0) {
      // Not configured here, or no address: recorded as such at once, not by an update later.
      const reason = disabled ? 'channel_disabled' : 'no_address';
      for (const recipient of addresses.length > 0 ? addresses : ['']) rows.push({ ...base, recipient, status: 'suppressed', reason });
      // No way to reach the user on this channel: use its fallback channel instead.
      const fallback = channelRoute.fallback;
      if (fallback && decision.send) add({ channel: fallback });
      return;
    }
    for (const recipient of addresses) {
      rows.push({ ...base, recipient, status: decision.send ? 'pending' : 'suppressed', reason: decision.send ? null : decision.reason });
    }
  };
  for (const channelRoute of route.channels) {
    if (channelRoute.when && !channelRoute.when(payload)) continue;
    add(channelRoute);
  }
  return rows;
}

/** Where a channel reaches the user of `event`: email address, phone, device tokens or user id. */
export function addressesOf(channel: ChannelName, event: EventMap[EventType], tokens: string[]): string[] {
  switch (channel) {
    case 'email':
      return [event.recipient.email.toLowerCase()];
    case 'sms':
      return event.recipient.phone ? [event.recipient.phone] : [];
    case 'push':
      return tokens;
    case 'in_app':
      return [event.user_id];
  }
}

/** The rows as delivery_ledger stores them: each address sealed with its user's data key when `keys` is given (see ledger-recipient.ts). */
export async function ledgerRows(rows: PlannedRow[], keys: DataKeyStore | undefined): Promise<Array<Omit<PlannedRow, 'recipient'> & RecipientColumns>> {
  const sealer = await columnSealer(keys, rows.filter((r) => r.channel !== 'in_app' && r.recipient !== '').map((r) => r.user_id));
  return rows.map((row) => ({ ...row, ...recipientColumns(sealer, row.channel, row.user_id, row.recipient) }));
}

/** The live push tokens of each user, opened; an erased user has none. */
export async function activeTokens(db: Db, userIds: string[], keys?: DataKeyStore): Promise<Map<string, string[]>> {
  const rows: Array<{ user_id: string; token: string }> = await db('device_tokens').whereIn('user_id', [...new Set(userIds)]).whereNull('dead_at').select('user_id', 'token');
  const opener = await columnOpener(keys, rows.map((r) => r.token));
  const out = new Map<string, string[]>();
  for (const r of rows) if (!opener.erased(r.token)) out.set(r.user_id, [...(out.get(r.user_id) ?? []), opener.open(r.token)]);
  return out;
}
