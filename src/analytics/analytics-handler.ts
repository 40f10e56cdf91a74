import type { EventHandler } from '../consumer/event-handler';
import type { EventRecord } from '../consumer/messages';
import type { Trx } from '../db/database';
import { getEventDefinition } from '../events/catalog';
import { addEventCounts, utcDay } from './event-counts';

/** The analytics group's handler: counts each new event once per (day, type, domain). */
export class AnalyticsHandler implements EventHandler {
  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    await addEventCounts(
      trx,
      events.map((e) => {
        const occurredAt = e.payload.occurred_at;
        return {
          day: utcDay(typeof occurredAt === 'number' ? occurredAt : Number(e.timestamp)),
          eventType: e.type,
          domain: getEventDefinition(e.type).domain,
          count: 1,
        };
      }),
    );
  }
}
