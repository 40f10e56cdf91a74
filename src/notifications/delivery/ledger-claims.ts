import { randomUUID } from 'node:crypto';
import type { DataKeyStore } from '../../crypto/data-key-store';
import { columnOpener, columnSealer } from '../../crypto/sealed-columns';
import type { Db } from '../../db/database';
import { TidingsError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { ChannelName, OutboundMessage } from '../channels/channel';
import type { FailoverResult } from '../providers/failover';
import { LedgerOutcomes, type FinalStatus, type Outcome } from './ledger-outcomes';
import { recipientColumns, recipientSql } from './ledger-recipient';

/** A ledger row as a deliverer holds it once claimed. */
export interface ClaimedRow {
  id: string;
  event_id: string;
  event_type: string;
  channel: ChannelName;
  /** The address, opened (the ledger may hold it sealed, see ledger-recipient.ts). */
  recipient: string;
  user_id: string | null;
  attempts: number;
  /** Why the row was planned, e.g. `fallback_from_push`; kept when it is sent. */
  reason: string | null;
  rate_limit: 'counted' | 'exempt' | null;
  /** The rendered message and due time of a row deferred by quiet hours. */
  message: OutboundMessage | null;
  not_before: Date | null;
}

/** One deliverer's hold on the rows it claimed: a token, the owner's name, the lease. */
export interface Claim {
  token: string;
  owner: string;
  leaseMs: number;
}

export type { FinalStatus, Outcome } from './ledger-outcomes';

/** A claimed row was not found under its claim: its lease ran out and another deliverer took it. */
export class ClaimLostError extends TidingsError {
  constructor(rowId: string) {
    super('CLAIM_LOST', `delivery_ledger row ${rowId}: the claim was lost (lease expired and the row was claimed again)`, { retriable: true });
  }
}

const COLUMNS = ['id', 'event_id', 'event_type', 'channel', 'recipient', 'user_id', 'attempts', 'reason', 'rate_limit', 'message', 'not_before'];
const RETURNING = COLUMNS.map((c) => (c === 'recipient' ? `${recipientSql('l')} AS recipient` : `l.${c}`)).join(', ');

/** The ledger reason of a notification not sent because its user was erased (claimed rows here, their later events in the handler, the erasure itself). */
export const USER_ERASED_REASON = 'user_erased';

/** A claimed row as read, before its sealed address and message are opened. */
type StoredRow = Omit<ClaimedRow, 'message'> & { message: OutboundMessage | string | null };

/**
 * Every write to delivery_ledger after planning: claims (leases), lease renewal and the
 * final record of each row. Shared by the event deliverer and the deferred dispatcher.
 *
 * A claim moves rows to `sending` in one statement (`FOR UPDATE SKIP LOCKED`, so concurrent
 * claimers never wait for or deadlock on each other); a row is claimable when `pending`, or
 * `sending` under a lease that ran out (its owner died) or under this owner's name while no
 * send of this process holds it (a previous attempt gave up before sending). Finishing a row
 * matches its claim token: a finish whose claim was lost changes nothing and is counted.
 *
 * With a key store, addresses and deferred messages are sealed with the user's data key when
 * written and opened when claimed; a claimed row whose user was erased since it was written
 * is finished `suppressed` (user_erased) at once and never handed out.
 */
export class LedgerClaims {
  /** Records rows' outcomes, many in one statement (`finish` records one). */
  readonly outcomes: LedgerOutcomes;

  constructor(
    private readonly db: Db,
    logger: Logger,
    /** Counts finishes that found their claim gone. */
    counters: { claimsLost: number },
    /** Users' data keys; without them addresses and messages are stored as they are. */
    private readonly dataKeys?: DataKeyStore,
  ) {
    this.outcomes = new LedgerOutcomes(db, logger, counters, dataKeys);
  }

  newClaim(owner: string, leaseMs: number): Claim {
    return { token: randomUUID(), owner, leaseMs };
  }

  /**
   * Claims the open rows of `eventIds`. Returns the rows now held and the ids of the rows
   * still open but held by someone else (`busy`): another live owner is sending them.
   * `inFlight`: rows this process is sending under other claims (never taken from itself).
   */
  async claimEvents(eventIds: string[], claim: Claim, inFlight: Iterable<string>, onlyIds?: string[]): Promise<{ claimed: ClaimedRow[]; busy: string[] }> {
    const filter = onlyIds ? 'id = ANY(?::bigint[])' : 'event_id = ANY(?::uuid[])';
    const result = await this.db.raw<{ rows: Array<StoredRow & { held: boolean }> }>(
      `WITH open AS (
         SELECT id FROM delivery_ledger WHERE ${filter} AND status IN ('pending', 'sending')
       ), claimable AS (
         SELECT l.id FROM delivery_ledger l JOIN open o ON o.id = l.id
         WHERE NOT (l.id = ANY(?::bigint[]))
           AND (l.status = 'pending' OR (l.status = 'sending' AND (l.claim_expires_at < now() OR l.claimed_by = ?)))
         ORDER BY l.id
         FOR UPDATE OF l SKIP LOCKED
       ), claimed AS (${this.claimUpdate('claimable')})
       SELECT true AS held, * FROM claimed
       UNION ALL
       SELECT false AS held, o.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM open o WHERE o.id NOT IN (SELECT id FROM claimed)`,
      [onlyIds ?? eventIds, [...inFlight], claim.owner, ...this.claimBindings(claim)],
    );
    const claimed = await this.opened(result.rows.filter((r) => r.held).map(withoutHeld), claim);
    claimed.sort((a, b) => Number(a.id) - Number(b.id));
    return { claimed, busy: result.rows.filter((r) => !r.held).map((r) => String(r.id)) };
  }

  /** Claims up to `limit` deferred rows due at `now`, and deferred rows whose claimer died. */
  async claimDue(now: Date, limit: number, claim: Claim): Promise<ClaimedRow[]> {
    const result = await this.db.raw<{ rows: StoredRow[] }>(
      `WITH due AS (
         SELECT id FROM delivery_ledger
         WHERE (status = 'deferred' AND not_before <= ?)
            OR (status = 'sending' AND not_before IS NOT NULL AND claim_expires_at < now())
         ORDER BY not_before LIMIT ?
         FOR UPDATE SKIP LOCKED
       ) ${this.claimUpdate('due')}`,
      [now, limit, ...this.claimBindings(claim)],
    );
    return this.opened(result.rows, claim);
  }

  /** Extends the lease of the rows still held; returns how many were. */
  async renew(claim: Claim, rowIds: string[]): Promise<number> {
    if (rowIds.length === 0) return 0;
    return this.db('delivery_ledger')
      .whereIn('id', rowIds)
      .andWhere({ claim_token: claim.token, status: 'sending' })
      .update({ claim_expires_at: this.db.raw('now() + make_interval(secs => ?)', [claim.leaseMs / 1000]) });
  }

  /** A new row (a fallback channel) inserted already claimed; undefined if the row exists. */
  async insertClaimed(row: Pick<ClaimedRow, 'event_id' | 'event_type' | 'channel' | 'recipient' | 'user_id' | 'reason'>, claim: Claim): Promise<ClaimedRow | undefined> {
    const sealer = await columnSealer(this.dataKeys, row.user_id === null ? [] : [row.user_id]);
    const [inserted] = (await this.db('delivery_ledger')
      .insert({
        ...row,
        ...recipientColumns(sealer, row.channel, row.user_id, row.recipient),
        status: 'sending',
        claim_token: claim.token,
        claimed_by: claim.owner,
        claim_expires_at: this.db.raw('now() + make_interval(secs => ?)', [claim.leaseMs / 1000]),
      })
      .onConflict(['event_id', 'channel', 'recipient'])
      .ignore()
      .returning(COLUMNS)) as ClaimedRow[];
    return inserted && { ...inserted, recipient: row.recipient };
  }

  /**
   * Records a claimed row's outcome and its provider attempts in one statement (see
   * LedgerOutcomes, which also records many rows at once), only while `claim` holds the row.
   * Returns false, logs and counts when the claim was lost.
   */
  async finish(row: ClaimedRow, claim: Claim, status: FinalStatus, outcome: Outcome, attempts: FailoverResult['attempts'] = []): Promise<boolean> {
    const [recorded] = await this.outcomes.recordMany([{ row, claim, status, outcome, attempts }]);
    return recorded === true;
  }

  /**
   * The claimed rows with their addresses and messages opened. A row whose user was erased
   * since it was written is finished `suppressed` (user_erased) under the claim and left out:
   * there is no one to send it to any more.
   */
  private async opened(rows: StoredRow[], claim: Claim): Promise<ClaimedRow[]> {
    if (rows.length === 0) return [];
    const opener = await columnOpener(this.dataKeys, rows.flatMap((r) => [r.recipient, r.message]));
    const out: ClaimedRow[] = [];
    for (const row of rows) {
      if (opener.erased(row.recipient) || opener.erased(row.message)) {
        await this.finish({ ...row, message: null }, claim, 'suppressed', { reason: USER_ERASED_REASON });
        continue;
      }
      const message = typeof row.message === 'string' ? (JSON.parse(opener.open(row.message)) as OutboundMessage) : row.message;
      out.push({ ...row, recipient: opener.open(row.recipient), message });
    }
    return out;
  }

  private claimUpdate(source: string): string {
    return `UPDATE delivery_ledger l
       SET status = 'sending', claim_token = ?, claimed_by = ?, claim_expires_at = now() + make_interval(secs => ?), updated_at = now()
       FROM ${source} s WHERE l.id = s.id
       RETURNING ${RETURNING}`;
  }

  private claimBindings(claim: Claim): [string, string, number] {
    return [claim.token, claim.owner, claim.leaseMs / 1000];
  }
}

function withoutHeld(row: StoredRow & { held: boolean }): StoredRow {
  const { held: _held, ...rest } = row;
  return rest;
}
