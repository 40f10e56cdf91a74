import type { EventRecord } from '../../consumer/messages';
import { originOf } from '../../consumer/failure-headers';
import { getEventDefinition } from '../../events/catalog';
import { deliveries, deliveryLatency } from '../../observability/metrics';
import type { ChannelName } from '../channels/channel';
import type { FailoverResult } from '../providers/failover';

export type DeliveryStatus = 'sent' | 'failed' | 'suppressed' | 'deferred';

/** The provider that gave `result`: the one that accepted, else the last one called; `none` when none was. */
function providerOf(result: FailoverResult | undefined): string {
  if (result === undefined) return 'none';
  if (result.provider !== undefined) return result.provider;
  for (let i = result.attempts.length - 1; i >= 0; i--) {
    const attempt = result.attempts[i];
    if (attempt && attempt.status !== 'skipped') return attempt.provider;
  }
  return 'none';
}

/** One delivery attempt's outcome in `tidings_deliveries_total`; `result` is the providers' answer, if any was asked. */
export function countDelivery(channel: ChannelName, status: DeliveryStatus, result?: FailoverResult, count = 1): void {
  deliveries.inc({ channel, provider: providerOf(result), status }, count);
}

/**
 * Rows planned as `suppressed` (channel off here, no address, the user's preferences), which
 * never reach a provider: counted per channel, one counter update per channel.
 */
export function countPlannedSuppressions(rows: ReadonlyArray<{ channel: ChannelName; status: string }>): void {
  const perChannel = new Map<ChannelName, number>();
  for (const row of rows) if (row.status === 'suppressed') perChannel.set(row.channel, (perChannel.get(row.channel) ?? 0) + 1);
  for (const [channel, n] of perChannel) countDelivery(channel, 'suppressed', undefined, n);
}

/**
 * A provider accepted `event`'s notification at `acceptedAt` (ms): the time since the event was
 * published, by its original record's timestamp (kept through retry tiers), goes to
 * `tidings_delivery_latency_seconds` under the event's family.
 */
export function observeAcceptance(event: EventRecord, channel: ChannelName, acceptedAt: number): void {
  const published = Number(originOf(event).timestamp);
  if (!Number.isFinite(published) || published <= 0) return;
  observeLatency(channel, getEventDefinition(event.type).domain, published, acceptedAt);
}

/**
 * A send held back on purpose until a due time: `deferred` (quiet hours, due when they end) or
 * `scheduled` (a renewal reminder or daily digest, due at its time).
 */
export type HeldSendCategory = 'deferred' | 'scheduled';

/**
 * A provider accepted a held-back send at `acceptedAt` (ms) that fell due at `dueAt` (ms):
 * due → accepted goes to `tidings_delivery_latency_seconds` under its own category. Publish →
 * accepted would be the hours it was held on purpose, and under the event's family (payment)
 * it would breach the payment SLA at every night's quiet hours; due → accepted is how late
 * the dispatcher was (its poll interval, a backlog, provider failures since the due time).
 */
export function observeHeldAcceptance(channel: ChannelName, category: HeldSendCategory, dueAt: number, acceptedAt: number): void {
  observeLatency(channel, category, dueAt, acceptedAt);
}

function observeLatency(channel: ChannelName, category: string, from: number, acceptedAt: number): void {
  deliveryLatency.observe({ channel, category }, Math.max(0, acceptedAt - from) / 1000);
}
