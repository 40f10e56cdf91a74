import type { Db } from '../db/database';
import { TemplateRenderError, TidingsError, describe } from '../errors';
import type { OutboundMessage } from '../notifications/channels/channel';
import type { ChannelSender } from '../notifications/channels/channel-sender';
import { countDelivery, observeHeldAcceptance } from '../notifications/delivery/delivery-metrics';
import { faultPoint } from '../observability/fault-injection';
import { createLogger, type Logger } from '../observability/logger';
import { ATTR, failSpan, inRootSpan } from '../observability/tracing';
import { backoffDelay } from '../retry/backoff';
import { retry, RetryAbortedError, sleep } from '../retry/retry';
import type { Clock } from './clock';
import type { ClaimedJob } from './due-queue';
import type { SchedulerSettings } from './options';
import { EMAIL_CHANNEL, ScheduledLedger } from './scheduled-ledger';
import type { ScheduledDelivery, ScheduledJobKind } from './scheduled-job';

export interface DispatcherOptions {
  db: Db;
  /** The email channel (failover over the configured providers), the one event notifications use. */
  email: ChannelSender;
  jobs: ScheduledJobKind[];
  clock: Clock;
  settings: Pick<SchedulerSettings, 'pollIntervalMs' | 'batchSize' | 'leaseMs' | 'maxAttempts' | 'retryDelayMs' | 'maxRetryDelayMs' | 'outageBackoff'>;
  /** Recorded on claimed rows. */
  instanceId: string;
  logger?: Logger;
}

export interface DispatcherStats {
  /** Emails the provider accepted, per job kind. */
  sent: Record<string, number>;
  /** Jobs found already `sent` in the ledger (claimed again after a crash): nothing was sent. */
  alreadySent: number;
  /** Retriable send failures, each given back with a delay. */
  sendRetries: number;
  /** Jobs given up: permanent provider refusal, unrenderable template or attempts exhausted. */
  gaveUp: number;
  /** Reminders whose renewal had already happened when they were claimed. */
  expired: number;
  ticks: number;
  /** Dispatcher rounds that failed on the database, each retried after a backoff. */
  outages: number;
  /** Retries of recording an accepted email in the ledger (database unreachable after the send). */
  ledgerRetries: number;
}

/**
 * Sends due scheduled emails. Each round claims due jobs of every kind in small batches
 * (SKIP LOCKED, with a lease), sends each through the email channel (failover, circuit
 * breakers) and the ledger, records every provider attempt, and marks the job; then it sleeps
 * until the next job is due or `pollIntervalMs`, whichever is sooner, or until `wake()`.
 *
 * Exactly one email per job with any number of instances: a job is claimed by one instance
 * at a time. Its ledger row (deterministic id) is `pending` before the send and becomes
 * `sent` in the same transaction that marks the job. A claimer that dies before sending
 * leaves the job to be claimed again after its lease, and it is sent once then; one that
 * dies after the provider accepted and before that transaction leaves a `pending` row, and
 * the email is sent a second time (with the same Message-ID) — the same window as every
 * notification (README, Guarantees).
 */
export class Dispatcher {
  readonly stats: DispatcherStats;
  readonly instanceId: string;
  private readonly logger: Logger;
  private readonly ledger: ScheduledLedger;
  private loop: Promise<void> | undefined;
  /** Aborted by stop(): ends a backoff, a pause or a retried ledger write at once. */
  private stopping: AbortController | undefined;
  private wakeUp = new AbortController();
  private woken = false;

  constructor(private readonly options: DispatcherOptions) {
    this.instanceId = options.instanceId;
    this.logger = options.logger ?? createLogger('scheduler:dispatcher');
    this.ledger = new ScheduledLedger(options.db);
    this.stats = { sent: Object.fromEntries(options.jobs.map((k) => [k.name, 0])), alreadySent: 0, sendRetries: 0, gaveUp: 0, expired: 0, ticks: 0, outages: 0, ledgerRetries: 0 };
  }

  /** Starts the loop. Idempotent. */
  start(): void {
    if (this.loop) return;
    this.stopping = new AbortController();
    this.loop = this.run(this.stopping.signal);
  }

  /**
   * Ends the loop and returns once it has: at once from a pause or an outage backoff, after
   * the send in progress otherwise. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopping?.abort();
    await this.loop;
    this.loop = undefined;
  }

  /** Looks for due work now instead of at the next poll (e.g. just after something due was scheduled). */
  wake(): void {
    this.woken = true;
    this.wakeUp.abort();
  }

  /** One round: claims and sends everything due now. Returns how many emails the provider accepted, per job kind. */
  async tick(): Promise<Record<string, number>> {
    this.stats.ticks++;
    const sent: Record<string, number> = {};
    for (const kind of this.options.jobs) {
      sent[kind.name] = 0;
      for (;;) {
        const claimed = await kind.queue.claim(this.options.clock.now(), this.options.settings.batchSize, this.options.settings.leaseMs);
        if (claimed.length === 0) break;
        const outcomes = await Promise.allSettled(claimed.map((job) => this.handle(kind, job)));
        for (const outcome of outcomes) {
          // A database error leaves the job claimed; its lease brings it back.
          if (outcome.status === 'rejected') throw outcome.reason;
          if (outcome.value) sent[kind.name] = (sent[kind.name] ?? 0) + 1;
        }
        if (claimed.length < this.options.settings.batchSize) break;
      }
    }
    return sent;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { initialMs, maxMs } = this.options.settings.outageBackoff;
    while (!signal.aborted) {
      this.woken = false;
      let pauseMs: number;
      try {
        // A round that fails on the database is tried again after a backoff, until it passes or stop().
        pauseMs = await retry(
          async () => {
            await this.tick();
            return this.untilNextDue();
          },
          {
            what: 'scheduler round',
            initialMs,
            maxMs,
            signal,
            onRetry: (error, attempt, delayMs) => {
              this.stats.outages++;
              this.logger.warn({ err: describe(error), attempt: attempt + 1, delayMs }, 'scheduler round failed; retrying after a backoff');
            },
          },
        );
      } catch (error) {
        if (error instanceof RetryAbortedError) return;
        throw error;
      }
      await this.pause(pauseMs, signal);
    }
  }

  private async untilNextDue(): Promise<number> {
    const { pollIntervalMs } = this.options.settings;
    const dues = await Promise.all(this.options.jobs.map((k) => k.queue.nextDueAt()));
    const next = Math.min(...dues.filter((d): d is number => d !== undefined));
    // A due row another instance or transaction holds right now must not make this loop spin.
    return Number.isFinite(next) ? Math.max(25, Math.min(pollIntervalMs, next - this.options.clock.now())) : pollIntervalMs;
  }

  /** Waits `ms`, or less when woken or stopped. */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken) return;
    if (this.wakeUp.signal.aborted) this.wakeUp = new AbortController();
    await sleep(ms, AbortSignal.any([signal, this.wakeUp.signal])).catch((error: unknown) => {
      if (!(error instanceof RetryAbortedError)) throw error;
    });
  }

  /** Sends one claimed job; resolves true when the provider accepted an email. */
  private async handle(kind: ScheduledJobKind, job: ClaimedJob): Promise<boolean> {
    let delivery: ScheduledDelivery | 'expired';
    try {
      delivery = await kind.prepare(job.id, this.options.clock.now());
    } catch (error) {
      if (!(error instanceof TemplateRenderError)) throw error;
      this.stats.gaveUp++;
      this.logger.error({ kind: kind.name, job: job.id, err: error.message }, 'scheduled email cannot be rendered');
      await kind.queue.finish(job.id, 'failed', { error: error.message });
      countDelivery(EMAIL_CHANNEL, 'failed');
      return false;
    }
    if (delivery === 'expired') {
      this.stats.expired++;
      await kind.queue.finish(job.id, 'expired');
      return false;
    }
    const entry = await this.ledger.open(delivery);
    if (entry.status !== 'pending') {
      // Sent (or refused for good) by an earlier claim that died before marking the job.
      if (entry.status === 'sent') this.stats.alreadySent++;
      await kind.queue.finish(job.id, entry.status);
      return false;
    }
    // No event is being processed: each send starts a trace of its own (the job tables keep no
    // trace context of the events behind it); `messaging.message.id` is the ledger's delivery id.
    const result = await inRootSpan(
      'scheduled send',
      { [ATTR.messageId]: delivery.deliveryId, [ATTR.eventType]: delivery.kind, [ATTR.channel]: EMAIL_CHANNEL, [ATTR.attempt]: job.attempts },
      async (span) => {
        const sent = await this.options.email.sendWithAttempts(emailMessage(delivery));
        if (sent.error !== undefined) failSpan(span, sent.error);
        return sent;
      },
    );
    if (result.receipt) {
      faultPoint('scheduler.after-provider-accepted');
      // Measured from the due time, not a publish (see observeHeldAcceptance).
      observeHeldAcceptance(EMAIL_CHANNEL, 'scheduled', job.dueAt, this.options.clock.now());
      const messageId = result.receipt.providerMessageId;
      // The provider has it: keep trying to record that through a database outage, so an
      // outage (unlike a crash) never turns into a second send. stop() ends the wait; the job
      // is then sent again after its lease, the window a crash leaves too.
      await retry(
        () =>
          this.options.db.transaction(async (trx) => {
            await this.ledger.record(entry, 'sent', { provider: result.provider, messageId, attempts: result.attempts }, trx);
            await kind.queue.finish(job.id, 'sent', { trx });
          }),
        {
          what: 'recording a sent scheduled email',
          maxMs: 5_000,
          signal: this.stopping?.signal,
          onRetry: (error, attempt, delayMs) => {
            this.stats.ledgerRetries++;
            this.logger.warn({ job: job.id, attempt: attempt + 1, delayMs, err: describe(error) }, 'sent, but the ledger is unreachable; retrying the update');
          },
        },
      );
      countDelivery(EMAIL_CHANNEL, 'sent', result);
      this.stats.sent[kind.name] = (this.stats.sent[kind.name] ?? 0) + 1;
      return true;
    }
    const error = result.error;
    const retriable = !(error instanceof TidingsError) || error.retriable;
    const givingUp = !retriable || job.attempts >= this.options.settings.maxAttempts;
    await this.options.db.transaction((trx) => this.ledger.record(entry, givingUp ? 'failed' : 'pending', { error, attempts: result.attempts }, trx));
    countDelivery(EMAIL_CHANNEL, 'failed', result);
    if (givingUp) {
      this.stats.gaveUp++;
      await kind.queue.finish(job.id, 'failed', { error: describe(error) });
    } else {
      this.stats.sendRetries++;
      const { retryDelayMs, maxRetryDelayMs } = this.options.settings;
      await kind.queue.release(job.id, this.options.clock.now() + backoffDelay(job.attempts - 1, retryDelayMs, maxRetryDelayMs), describe(error));
    }
    this.logger.warn({ kind: kind.name, job: job.id, code: error instanceof TidingsError ? error.code : undefined, err: describe(error), givingUp }, 'scheduled email not sent');
    return false;
  }
}

/** A scheduled email as the email channel takes it; the Message-ID derives from the delivery id. */
function emailMessage(delivery: ScheduledDelivery): OutboundMessage {
  return {
    channel: 'email',
    eventId: delivery.deliveryId,
    userId: delivery.userId,
    recipient: delivery.to,
    title: delivery.email.subject,
    text: delivery.email.text,
    html: delivery.email.html,
    data: { eventType: delivery.kind, eventId: delivery.deliveryId },
    idempotencyKey: `${delivery.deliveryId}.email`,
  };
}
