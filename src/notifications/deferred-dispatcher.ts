import type { Db } from '../db/database';
import { TidingsError, describe } from '../errors';
import { createLogger, type Logger } from '../observability/logger';
import type { ChannelName, OutboundMessage } from './channels/channel';
import type { ChannelSender } from './channels/channel-sender';
import { attemptRows } from './delivery-attempts';

export interface DeferredDispatcherOptions {
  db: Db;
  channels: Partial<Record<ChannelName, ChannelSender>>;
  /** How often to look for messages whose quiet hours are over. Default 5 s. */
  pollIntervalMs?: number;
  batchSize?: number;
  clock?: () => Date;
  logger?: Logger;
}

/**
 * Sends the messages held back by quiet hours once they are over. Rows are claimed with
 * `FOR UPDATE SKIP LOCKED`, so any number of instances share the work and each row is sent
 * by one of them; a failed send stays `deferred` and is tried again on a later pass.
 */
export class DeferredDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pass: Promise<number> | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: DeferredDispatcherOptions) {
    this.logger = options.logger ?? createLogger('deferred-dispatcher');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = (): void => {
      if (!this.running) return;
      this.pass = this.dispatchDue().catch((error: unknown) => {
        this.logger.warn({ error: describe(error) }, 'deferred pass failed; will try again');
        return 0;
      });
      void this.pass.then(() => {
        if (this.running) this.timer = setTimeout(loop, this.options.pollIntervalMs ?? 5_000);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.pass;
  }

  /** One pass: sends every due deferred message (up to the batch size); returns how many were sent. */
  async dispatchDue(): Promise<number> {
    const now = this.options.clock ? this.options.clock() : new Date();
    return this.options.db.transaction(async (trx) => {
      const rows: Array<{ id: string; channel: ChannelName; message: OutboundMessage; attempts: number }> = await trx('delivery_ledger')
        .where({ status: 'deferred' })
        .andWhere('not_before', '<=', now)
        .orderBy('not_before')
        .limit(this.options.batchSize ?? 100)
        .forUpdate()
        .skipLocked()
        .select('id', 'channel', 'message', 'attempts');
      let sent = 0;
      for (const row of rows) {
        const sender = this.options.channels[row.channel];
        if (!sender) continue;
        const result = await sender.sendWithAttempts(row.message);
        const error = result.error;
        const permanent = error instanceof TidingsError && !error.retriable;
        await trx('delivery_ledger')
          .where({ id: row.id })
          .update({
            status: result.receipt ? 'sent' : permanent ? 'failed' : 'deferred',
            provider: result.provider ?? null,
            provider_message_id: result.receipt?.providerMessageId ?? null,
            attempts: row.attempts + 1,
            error: error === undefined ? null : describe(error).slice(0, 2000),
            updated_at: new Date(),
          });
        if (result.attempts.length > 0) {
          await trx('delivery_attempts').insert(attemptRows(row.id, result.attempts));
        }
        if (result.receipt) sent++;
      }
      return sent;
    });
  }
}
