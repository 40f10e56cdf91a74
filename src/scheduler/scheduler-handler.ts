import type { DataKeyStore } from '../crypto/data-key-store';
import { columnSealer } from '../crypto/sealed-columns';
import type { Trx } from '../db/database';
import type { DeliveryFailure, EventHandler } from '../consumer/event-handler';
import type { EventRecord } from '../consumer/messages';
import type { SubscriptionCancelled, SubscriptionCreated, SubscriptionRenewed } from '../events/generated';
import { createLogger, type Logger } from '../observability/logger';
import type { Clock } from './clock';
import { addToDigests } from './daily-digests';
import { cancelReminders, remindAtOf, scheduleReminder } from './renewal-reminders';

export interface SchedulerHandlerOptions {
  clock: Clock;
  reminderLeadDays: number;
  digestHour: number;
  /** Called after a chunk that scheduled a reminder already due (a renewal sooner than the lead time). */
  onDueNow?: () => void;
  logger?: Logger;
  /** Users' data keys (`Platform.dataKeys`): recipients' addresses and names are then stored sealed. */
  dataKeys?: DataKeyStore;
}

/**
 * The scheduler group's effects: payment events become renewal reminders and daily digest
 * entries, written in the inbox transaction so each event counts exactly once. Nothing is
 * sent here; the dispatcher sends what falls due.
 */
export class SchedulerHandler implements EventHandler {
  private dueNow = false;
  private readonly logger: Logger;

  constructor(private readonly options: SchedulerHandlerOptions) {
    this.logger = options.logger ?? createLogger('scheduler:handler');
  }

  async apply(events: EventRecord[], trx: Trx): Promise<void> {
    const now = this.options.clock.now();
    const sealer = await columnSealer(this.options.dataKeys, events.map((e) => String(e.payload.user_id)));
    // In stream order: a cancellation and a renewal of one subscription in the same chunk must apply in sequence.
    for (const record of events) {
      if (record.type === 'SUBSCRIPTION_CREATED' || record.type === 'SUBSCRIPTION_RENEWED') {
        const event = record.payload as unknown as SubscriptionCreated | SubscriptionRenewed;
        await scheduleReminder(trx, event, this.options.reminderLeadDays, sealer);
        if (remindAtOf(event.renews_at, this.options.reminderLeadDays) <= now) this.dueNow = true;
      } else if (record.type === 'SUBSCRIPTION_CANCELLED') {
        await cancelReminders(trx, record.payload as unknown as SubscriptionCancelled);
      }
    }
    const late = await addToDigests(trx, events, now, this.options.digestHour, sealer);
    if (late > 0) this.logger.info({ late }, "payment events arrived after their day's digest was claimed; they join the user's next digest, flagged late");
  }

  async deliver(): Promise<DeliveryFailure[]> {
    if (this.dueNow) {
      this.dueNow = false;
      this.options.onDueNow?.();
    }
    return [];
  }
}
