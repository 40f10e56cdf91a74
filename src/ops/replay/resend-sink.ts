import { recordInInbox } from '../../consumer/chunk-processor';
import type { EventRecord } from '../../consumer/messages';
import type { Db } from '../../db/database';
import type { NotificationHandler } from '../../notifications/notification-handler';
import type { Logger } from '../../observability/logger';
import { nameBasedUuid } from '../../scheduler/delivery-id';
import { processedBy } from './processed-events';
import type { ReplayCounts } from './replay-counts';
import type { ReplayRecord } from './record-filter';
import { untilDone, type ReplaySink } from './replay-sink';

/**
 * The id an event's notifications are sent again under, in one replay. The ledger is keyed by
 * (event id, channel, recipient), so new ids give new rows (the first sends stay as they were)
 * and a new Message-ID; the same replay always derives the same id, so resuming it never
 * sends an event twice.
 */
export function resendEventId(replayId: string, eventId: string): string {
  return nameBasedUuid(`replay-resend:${replayId}:${eventId}`);
}

/** The inbox "group" of re-sends: apart from the group's own, whose rows mean "processed from the topic". */
export function resendInboxGroup(groupId: string): string {
  return `${groupId}.resend`;
}

export interface ResendOptions {
  db: Db;
  groupId: string;
  handler: NotificationHandler;
  replayId: string;
  /** Only events the group had processed by then are sent again (what was announced); the others are the live group's. */
  cutoff: Date;
  logger: Logger;
}

/**
 * --resend: plans the notifications of each event again under its re-send id (the receipts,
 * legal copies and other effects are not applied again) and sends them through the group's
 * deliverer: templates, preferences, quiet hours, rate limits and the ledger as for the first
 * send. The re-send id is recorded in an inbox of its own in the planning transaction, so a
 * chunk done again (resume after a crash) plans nothing twice and only sends what is still open.
 * A send that fails stays in the ledger (`pending` or `failed`) and is counted; it is not
 * retried through the group's tiers, whose records carry the original event.
 */
export class ResendSink implements ReplaySink {
  constructor(private readonly options: ResendOptions) {}

  async open(): Promise<void> {}

  async process(records: ReplayRecord[], counts: ReplayCounts, signal: AbortSignal): Promise<boolean> {
    const { db, groupId, handler, replayId, cutoff, logger } = this.options;
    const events = records.flatMap((r) => (r.event ? [r.event] : []));
    let done: { copies: number; rows: Array<{ channel: string; status: string; n: number }> } = { copies: 0, rows: [] };
    const ok = await untilDone(
      're-sending a chunk',
      async () => {
        const copies = await resendCopies(db, groupId, events, replayId, cutoff);
        await db.transaction(async (trx) => {
          const fresh = await recordInInbox(trx, resendInboxGroup(groupId), copies);
          const planned = copies.filter((c) => fresh.has(c.eventId));
          if (planned.length > 0) await handler.plan(planned, trx);
        });
        if (copies.length === 0) return;
        const failures = await handler.deliver(copies);
        if (failures.length > 0) logger.warn({ replayId, failed: failures.length }, 'some notifications could not be sent again; their ledger rows say why');
        const rows = (await db('delivery_ledger')
          .whereIn('event_id', copies.map((c) => c.eventId))
          .select('channel', 'status')
          .count({ n: '*' })
          .groupBy('channel', 'status')) as Array<{ channel: string; status: string; n: string | number }>;
        done = { copies: copies.length, rows: rows.map((r) => ({ channel: r.channel, status: r.status, n: Number(r.n) })) };
      },
      signal,
      logger,
    );
    if (!ok) return false;
    counts.resent += done.copies;
    counts.notYetProcessed += events.length - done.copies;
    for (const { channel, status, n } of done.rows) {
      const byStatus = (counts.sends[channel] ??= {});
      byStatus[status] = (byStatus[status] ?? 0) + n;
    }
    return true;
  }

  async close(): Promise<void> {}
}

/** The events to send again (processed by the group by `cutoff`), under their re-send ids. */
export async function resendCopies(db: Db, groupId: string, events: EventRecord[], replayId: string, cutoff: Date): Promise<EventRecord[]> {
  const processed = await processedBy(db, groupId, events.map((e) => e.eventId), cutoff);
  return events.filter((e) => processed.has(e.eventId)).map((e) => ({ ...e, eventId: resendEventId(replayId, e.eventId) }));
}
