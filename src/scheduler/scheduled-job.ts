import type { RecipientColumns } from '../notifications/delivery/ledger-recipient';
import type { RenderedEmail } from '../notifications/email/render';
import type { DueQueue } from './due-queue';

/** One email the dispatcher is to send for a claimed job. */
export interface ScheduledDelivery {
  /** Deterministic id of this delivery: the delivery ledger's `event_id`. */
  deliveryId: string;
  /** Written to the ledger's `event_type` and the `X-Tidings-Event-Type` header. */
  kind: string;
  userId: string;
  to: string;
  /** `to` as the delivery ledger stores it (sealed, with a digest as its key, when users' data keys are configured). */
  ledgerRecipient: RecipientColumns;
  email: RenderedEmail;
}

/** A kind of scheduled email (renewal reminders, daily digests): where its jobs wait and how one becomes an email. */
export interface ScheduledJobKind {
  readonly name: string;
  readonly queue: DueQueue;
  /**
   * The email of a claimed job, or 'expired' when it must no longer be sent (a reminder
   * whose renewal has already happened). Throws TemplateRenderError when it cannot render.
   */
  prepare(jobId: string, now: number): Promise<ScheduledDelivery | 'expired'>;
}
