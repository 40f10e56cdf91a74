import type { DataKeyStore } from '../crypto/data-key-store';
import { NOT_SEALED, columnOpener, type ColumnSealer } from '../crypto/sealed-columns';
import type { Db, Trx } from '../db/database';
import type { BillingInterval, SubscriptionCancelled, SubscriptionCreated, SubscriptionRenewed } from '../events/generated';
import { reminderDeliveryId } from './delivery-id';
import { DueQueue } from './due-queue';
import { scheduledRecipient } from './scheduled-ledger';
import type { ScheduledEmailRenderer } from './scheduled-email';
import type { ScheduledDelivery, ScheduledJobKind } from './scheduled-job';

export const REMINDERS_TABLE = 'renewal_reminders';

const DAY_MS = 86_400_000;

/** When the reminder of a renewal at `renewsAt` falls due. */
export function remindAtOf(renewsAt: number, leadDays: number): number {
  return renewsAt - leadDays * DAY_MS;
}

/**
 * Schedules the reminder of a subscription's next renewal, inside the consumer's effects
 * transaction. A later renewal replaces the pending reminder (it is marked `superseded`);
 * an event about an older renewal than one already known changes nothing. Events of one
 * user arrive in order (key = user id), so "later" is the order they are applied in.
 * The recipient's address and name are stored as `sealer` seals them.
 */
export async function scheduleReminder(trx: Trx, event: SubscriptionCreated | SubscriptionRenewed, leadDays: number, sealer: ColumnSealer = NOT_SEALED): Promise<void> {
  const renewsAt = new Date(event.renews_at);
  const newer = await trx(REMINDERS_TABLE).where({ subscription_id: event.subscription_id }).andWhere('renews_at', '>', renewsAt).first('id');
  if (newer) return;
  await trx(REMINDERS_TABLE)
    .where({ subscription_id: event.subscription_id, status: 'scheduled' })
    .andWhere('renews_at', '<', renewsAt)
    .update({ status: 'superseded', updated_at: trx.fn.now() });
  const remindAt = new Date(remindAtOf(event.renews_at, leadDays));
  const row = {
    subscription_id: event.subscription_id,
    user_id: event.user_id,
    source_event_id: event.event_id,
    recipient_email: sealer.seal(event.user_id, event.recipient.email.toLowerCase()),
    recipient_name: event.recipient.name == null ? null : sealer.seal(event.user_id, event.recipient.name),
    locale: event.recipient.locale ?? 'en-US',
    time_zone: event.recipient.time_zone ?? 'UTC',
    plan_id: event.plan.plan_id,
    plan_name: event.plan.name,
    plan_interval: event.plan.interval,
    // The amount the coming renewal will charge is the plan's price.
    amount_minor: event.plan.price.amount_minor,
    currency: event.plan.price.currency,
    renews_at: renewsAt,
    remind_at: remindAt,
    next_attempt_at: remindAt,
    status: 'scheduled',
  };
  // The same renewal announced again (e.g. SUBSCRIPTION_RENEWED after SUBSCRIPTION_CREATED
  // with the same renews_at, or a re-subscription after a cancellation) refreshes the
  // details and re-arms a cancelled reminder; one already sent or in flight stays as it is.
  await trx(REMINDERS_TABLE)
    .insert(row)
    .onConflict(['subscription_id', 'renews_at'])
    .merge({ ...row, updated_at: trx.fn.now() })
    .whereIn(`${REMINDERS_TABLE}.status`, ['scheduled', 'cancelled', 'superseded']);
}

/** Cancels the pending reminder of a cancelled subscription. One being sent right now still goes out. */
export async function cancelReminders(trx: Trx, event: SubscriptionCancelled): Promise<void> {
  await trx(REMINDERS_TABLE)
    .where({ subscription_id: event.subscription_id, status: 'scheduled' })
    .update({ status: 'cancelled', updated_at: trx.fn.now() });
}

interface ReminderRow {
  id: string;
  subscription_id: string;
  user_id: string;
  recipient_email: string;
  recipient_name: string | null;
  locale: string;
  time_zone: string;
  plan_name: string;
  plan_interval: BillingInterval;
  amount_minor: string;
  currency: string;
  renews_at: Date;
}

/** Renewal reminders as the dispatcher sees them. */
export class RenewalReminderJobs implements ScheduledJobKind {
  readonly name = 'renewal-reminder';
  readonly queue: DueQueue;

  constructor(
    private readonly db: Db,
    private readonly renderer: ScheduledEmailRenderer,
    instanceId: string,
    /** Users' data keys, to open sealed recipients (see scheduleReminder). */
    private readonly dataKeys?: DataKeyStore,
  ) {
    this.queue = new DueQueue({ db, table: REMINDERS_TABLE, instanceId });
  }

  async prepare(jobId: string, now: number): Promise<ScheduledDelivery | 'expired'> {
    const stored = await this.db(REMINDERS_TABLE).where({ id: jobId }).first<ReminderRow | undefined>();
    // A reminder that could not go out before the renewal itself (a long outage) is moot.
    if (!stored || stored.renews_at.getTime() <= now) return 'expired';
    const opener = await columnOpener(this.dataKeys, [stored.recipient_email, stored.recipient_name]);
    // The user was erased since it was scheduled: there is no one to remind.
    if (opener.erased(stored.recipient_email)) return 'expired';
    const row = { ...stored, recipient_email: opener.open(stored.recipient_email), recipient_name: opener.openNullable(stored.recipient_name) };
    const deliveryId = reminderDeliveryId(String(row.id));
    const email = this.renderer.render(
      'renewal-reminder',
      {
        event_id: deliveryId,
        recipient: { email: row.recipient_email, name: row.recipient_name },
        subscription_id: row.subscription_id,
        plan: { name: row.plan_name, interval: row.plan_interval },
        amount: { amount_minor: Number(row.amount_minor), currency: row.currency },
        renews_at: row.renews_at.getTime(),
      },
      { locale: row.locale, timeZone: row.time_zone },
    );
    return { deliveryId, kind: 'RENEWAL_REMINDER', userId: row.user_id, to: row.recipient_email, ledgerRecipient: await scheduledRecipient(this.dataKeys, row.user_id, row.recipient_email), email };
  }
}
