import { TidingsError, describe } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { Claim, LedgerClaims } from './ledger-claims';

/**
 * A send was not started because its outcome could not be recorded (the database is
 * unreachable, or the claim's lease could not be renewed in time): the row stays claimed and
 * the chunk is retried, instead of growing the set of sends that are accepted but never recorded.
 */
export class SendHeldBackError extends TidingsError {
  constructor(rowId: string, why: string) {
    super('SEND_HELD_BACK', `delivery_ledger row ${rowId}: not sent, ${why}`, { retriable: true });
  }
}

/**
 * Keeps one claim's lease alive while its rows are being delivered: every quarter lease it
 * extends the rows still held, so a long chunk (a slow provider, many rows queued behind the
 * send limit) never loses its rows to another deliverer while its owner is alive.
 *
 * A send starts only while at least half the lease is known to remain (`assertCanSend`): if
 * renewals fail (this process cannot reach the database), sends stop before another
 * deliverer could take the rows, and a send already started has half a lease to finish.
 */
export class Lease {
  private readonly held = new Set<string>();
  private validUntil = 0;
  private renewing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ledger: LedgerClaims,
    private readonly claim: Claim,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(claim.leaseMs / 4)));
    this.timer.unref();
  }

  /** Rows claimed by a statement sent at `since` (ms, local clock: a lower bound of the database's claim time). */
  hold(rowIds: string[], since: number): void {
    if (this.held.size === 0) this.validUntil = since + this.claim.leaseMs;
    for (const id of rowIds) this.held.add(id);
  }

  release(rowId: string): void {
    this.held.delete(rowId);
  }

  assertCanSend(rowId: string): void {
    if (Date.now() + this.claim.leaseMs / 2 > this.validUntil) throw new SendHeldBackError(rowId, 'its claim could not be renewed in time');
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0 || this.renewing) return;
    this.renewing = true;
    const started = Date.now();
    try {
      await this.ledger.renew(this.claim, [...this.held]);
      this.validUntil = started + this.claim.leaseMs;
    } catch (error) {
      this.logger.warn({ error: describe(error) }, 'could not renew the claim on ledger rows; no new send starts until it is');
    } finally {
      this.renewing = false;
    }
  }
}
