import { z } from 'zod';
import type { DataKeyStore } from '../crypto/data-key-store';
import type { Db } from '../db/database';
import { TidingsError, describe } from '../errors';
import { createLogger, type Logger } from '../observability/logger';
import { ATTR, failSpan, inRootSpan } from '../observability/tracing';
import { retry } from '../retry/retry';
import type { ChannelName } from './channels/channel';
import type { ChannelSender } from './channels/channel-sender';
import { countDelivery, observeHeldAcceptance } from './delivery/delivery-metrics';
import { LedgerClaims, type Claim, type ClaimedRow } from './delivery/ledger-claims';
import { defaultInstanceId, parseOptions } from '../config/options';
import { claimOptions } from './delivery/options';

const settingsSchema = z.object({
  /** How often to look for messages whose quiet hours are over. */
  pollIntervalMs: z.number().int().min(10).max(3_600_000).default(5_000),
  /** Rows claimed per pass. */
  batchSize: z.number().int().min(1).max(10_000).default(100),
  ...claimOptions,
});

export type DeferredDispatcherSettings = z.input<typeof settingsSchema>;

export interface DeferredDispatcherOptions extends DeferredDispatcherSettings {
  db: Db;
  channels: Partial<Record<ChannelName, ChannelSender>>;
  clock?: () => Date;
  logger?: Logger;
  /** Users' data keys: deferred messages are stored sealed and opened here (see LedgerClaims). */
  dataKeys?: DataKeyStore;
}

export interface DeferredDispatcherStats {
  sent: number;
  claimsLost: number;
  /** Retries of recording an outcome while the database was unreachable. */
  ledgerRetries: number;
}

/**
 * Sends the messages held back by quiet hours once they are over. Each pass claims due rows
 * (the same claims as the event deliverer: `sending` under a lease, committed at once), sends
 * them outside any transaction, then records each outcome under its claim. So any number of
 * instances share the work, each row is sent by one of them, no transaction stays open while
 * a provider works, and a database error after a send cannot undo the `sent` of another row.
 * A failed send goes back to `deferred` and is tried again on a later pass; a dispatcher that
 * dies mid-pass leaves its rows to the next one after the lease.
 */
export class DeferredDispatcher {
  readonly stats: DeferredDispatcherStats = { sent: 0, claimsLost: 0, ledgerRetries: 0 };
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pass: Promise<number> | undefined;
  private readonly settings: z.output<typeof settingsSchema>;
  private readonly logger: Logger;
  private readonly ledger: LedgerClaims;
  private readonly owner: string;
  private abort = new AbortController();

  constructor(private readonly options: DeferredDispatcherOptions) {
    const { db: _db, channels: _channels, clock: _clock, logger: _logger, dataKeys: _dataKeys, ...rest } = options;
    this.settings = parseOptions('deferred dispatcher', settingsSchema, rest);
    this.logger = options.logger ?? createLogger('deferred-dispatcher');
    this.ledger = new LedgerClaims(options.db, this.logger, this.stats, options.dataKeys);
    this.owner = this.settings.instanceId ?? defaultInstanceId();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    const loop = (): void => {
      if (!this.running) return;
      this.pass = this.dispatchDue().catch((error: unknown) => {
        this.logger.warn({ error: describe(error) }, 'deferred pass failed; will try again');
        return 0;
      });
      void this.pass.then(() => {
        if (this.running) this.timer = setTimeout(loop, this.settings.pollIntervalMs);
      });
    };
    loop();
  }

  /** Ends the loop; a pass in progress finishes its sends and stops retrying its records at once. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.pass;
  }

  private now(): Date {
    return this.options.clock ? this.options.clock() : new Date();
  }

  /** One pass: sends every due deferred message (up to the batch size); returns how many were sent. */
  async dispatchDue(): Promise<number> {
    const claim = this.ledger.newClaim(this.owner, this.settings.leaseMs);
    const rows = await this.ledger.claimDue(this.now(), this.settings.batchSize, claim);
    let sent = 0;
    for (const row of rows) {
      if (await this.send(row, claim)) sent++;
    }
    this.stats.sent += sent;
    return sent;
  }

  private async send(row: ClaimedRow, claim: Claim): Promise<boolean> {
    const sender = this.options.channels[row.channel];
    if (!sender || !row.message) {
      // Not configured here (or nothing to send): back to deferred for an instance that can.
      await this.record(row, claim, 'deferred', {});
      return false;
    }
    // Hours after its event was processed, in a trace of its own: the ledger keeps no trace
    // context of the event, so the event id (`messaging.message.id`, as on its `process` span) ties the two.
    const message = row.message;
    const result = await inRootSpan('deferred send', { [ATTR.messageId]: row.event_id, [ATTR.eventType]: row.event_type, [ATTR.channel]: row.channel }, async (span) => {
      const sent = await sender.sendWithAttempts(message);
      if (sent.error !== undefined) failSpan(span, sent.error);
      return sent;
    });
    // Measured from the end of the quiet hours, not the publish (see observeHeldAcceptance).
    if (result.receipt && row.not_before) observeHeldAcceptance(row.channel, 'deferred', row.not_before.getTime(), this.now().getTime());
    const error = result.error;
    const permanent = error instanceof TidingsError && !error.retriable;
    const status = result.receipt ? 'sent' : permanent ? 'failed' : 'deferred';
    // A failed attempt put back to deferred counts as `failed`, as a retried event notification does.
    if (await this.record(row, claim, status, { provider: result.provider, providerMessageId: result.receipt?.providerMessageId, error }, result.attempts)) {
      countDelivery(row.channel, status === 'sent' ? 'sent' : 'failed', result);
    }
    return status === 'sent';
  }

  /**
   * Records an outcome through database outages, until shutdown (then the row waits for the next
   * owner after its lease). False when the claim was lost (another dispatcher took the row over).
   */
  private async record(row: ClaimedRow, claim: Claim, status: 'sent' | 'failed' | 'deferred', outcome: { provider?: string; providerMessageId?: string; error?: unknown }, attempts: Parameters<LedgerClaims['finish']>[4] = []): Promise<boolean> {
    // A row put back to deferred keeps its due time and message.
    const keep = { reason: row.reason ?? undefined, ...(status === 'deferred' ? { notBefore: row.not_before ?? undefined, message: row.message ?? undefined } : {}) };
    return retry(() => this.ledger.finish(row, claim, status, { ...outcome, ...keep }, attempts), {
      what: 'recording a deferred notification',
      initialMs: 200,
      maxMs: 5_000,
      signal: this.abort.signal,
      onRetry: (error, attempt, delayMs) => {
        this.stats.ledgerRetries++;
        this.logger.warn({ attempt: attempt + 1, retryInMs: delayMs, error: describe(error) }, 'ledger unreachable; retrying the record');
      },
    });
  }
}
