import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { backoffDelay } from '../retry/backoff';
import type { Db } from '../db/database';
import { TemplateRenderError, TidingsError, describe } from '../errors';
import type { SmtpMailer } from '../notifications/email/smtp-mailer';
import { faultPoint } from '../observability/fault-injection';
import { createLogger, type Logger } from '../observability/logger';
import type { Clock } from './clock';
import type { ClaimedJob } from './due-queue';
import type { SchedulerSettings } from './options';
import { ScheduledLedger } from './scheduled-ledger';
import type { ScheduledDelivery, ScheduledJobKind } from './scheduled-job';

export interface DispatcherOptions {
  db: Db;
  mailer: SmtpMailer;
  jobs: ScheduledJobKind[];
  clock: Clock;
  settings: SchedulerSettings;
  /** Recorded on claimed rows. Default host:pid:random. */
  instanceId?: string;
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
}

/** Identifies one dispatcher process in `claimed_by`. */
export function defaultInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * Sends due scheduled emails. Each round claims due jobs of every kind in small batches
 * (SKIP LOCKED, with a lease), sends each through the ledger, and marks it; then it sleeps
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
  private readonly messageIdDomain: string;
  private running = false;
  private loop: Promise<void> | undefined;
  private interrupt: (() => void) | undefined;
  private woken = false;

  constructor(private readonly options: DispatcherOptions) {
    this.instanceId = options.instanceId ?? defaultInstanceId();
    this.logger = options.logger ?? createLogger('scheduler:dispatcher');
    this.ledger = new ScheduledLedger(options.db);
    this.messageIdDomain = /@([A-Za-z0-9.-]+)/.exec(options.mailer.from)?.[1] ?? 'tidings.local';
    this.stats = { sent: Object.fromEntries(options.jobs.map((k) => [k.name, 0])), alreadySent: 0, sendRetries: 0, gaveUp: 0, expired: 0, ticks: 0, outages: 0 };
  }

  /** Starts the loop. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Finishes the round in progress, then returns. Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt?.();
    await this.loop;
    this.loop = undefined;
  }

  /** Looks for due work now instead of at the next poll (e.g. just after something due was scheduled). */
  wake(): void {
    this.woken = true;
    this.interrupt?.();
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

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        this.woken = false;
        await this.tick();
        failures = 0;
        await this.pause(await this.untilNextDue());
      } catch (error) {
        if (!this.running) break;
        this.stats.outages++;
        const { initialMs, maxMs } = this.options.settings.outageBackoff;
        const delayMs = backoffDelay(failures++, initialMs, maxMs);
        this.logger.warn({ err: describe(error), delayMs }, 'scheduler round failed; retrying after a backoff');
        await this.pause(delayMs);
      }
    }
  }

  private async untilNextDue(): Promise<number> {
    const { pollIntervalMs } = this.options.settings;
    const dues = await Promise.all(this.options.jobs.map((k) => k.queue.nextDueAt()));
    const next = Math.min(...dues.filter((d): d is number => d !== undefined));
    // A due row another instance or transaction holds right now must not make this loop spin.
    return Number.isFinite(next) ? Math.max(25, Math.min(pollIntervalMs, next - this.options.clock.now())) : pollIntervalMs;
  }

  private async pause(ms: number): Promise<void> {
    if (!this.running || this.woken) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.interrupt = done;
    });
    this.interrupt = undefined;
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
    const provider = this.options.mailer.name;
    try {
      const { messageId } = await this.options.mailer.send({
        to: delivery.to,
        ...delivery.email,
        headers: { 'X-Tidings-Event-Id': delivery.deliveryId, 'X-Tidings-Event-Type': delivery.kind },
        messageId: `<${delivery.deliveryId}.email@${this.messageIdDomain}>`,
      });
      faultPoint('scheduler.after-provider-accepted');
      await this.options.db.transaction(async (trx) => {
        await this.ledger.record(entry, 'sent', { provider, messageId }, trx);
        await kind.queue.finish(job.id, 'sent', { trx });
      });
      this.stats.sent[kind.name] = (this.stats.sent[kind.name] ?? 0) + 1;
      return true;
    } catch (error) {
      if (!(error instanceof TidingsError)) throw error;
      const givingUp = !error.retriable || job.attempts >= this.options.settings.maxAttempts;
      await this.ledger.record(entry, givingUp ? 'failed' : 'pending', { provider, error });
      if (givingUp) {
        this.stats.gaveUp++;
        await kind.queue.finish(job.id, 'failed', { error: error.message });
      } else {
        this.stats.sendRetries++;
        const { retryDelayMs, maxRetryDelayMs } = this.options.settings;
        const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** (job.attempts - 1));
        await kind.queue.release(job.id, this.options.clock.now() + delay, error.message);
      }
      this.logger.warn({ kind: kind.name, job: job.id, code: error.code, err: error.message, givingUp }, 'scheduled email not sent');
      return false;
    }
  }
}
