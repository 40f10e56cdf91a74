import type { DataKeyStore } from '../../crypto/data-key-store';
import { columnSealer } from '../../crypto/sealed-columns';
import type { Db } from '../../db/database';
import type { Logger } from '../../observability/logger';
import { redactedErrorText } from '../../observability/redaction';
import type { OutboundMessage } from '../channels/channel';
import { attemptRows } from '../delivery-attempts';
import type { FailoverResult } from '../providers/failover';

export type FinalStatus = 'sent' | 'pending' | 'failed' | 'suppressed' | 'deferred';

export interface Outcome {
  provider?: string;
  providerMessageId?: string;
  error?: unknown;
  reason?: string;
  templateVersion?: string;
  notBefore?: Date;
  message?: OutboundMessage;
  /** The event's personal values, masked in the recorded error text besides the row's address (see redactedErrorText). */
  personal?: readonly string[];
}

/** One claimed row's outcome, to be recorded with its provider attempts. */
export interface OutcomeEntry {
  /** The claimed row (ledger-claims' ClaimedRow): its address, opened, masks the error text. */
  row: { id: string; event_id: string; channel: string; recipient: string; user_id: string | null; attempts: number };
  /** The claim that must still hold the row. */
  claim: { token: string };
  status: FinalStatus;
  outcome: Outcome;
  attempts?: FailoverResult['attempts'];
}

const ROW_COLUMNS =
  'id bigint, token uuid, status text, provider text, provider_message_id text, attempts int, error text, set_reason boolean, reason text, template_version text, deferred boolean, not_before timestamptz, message text, updated_at timestamptz';

/**
 * The one statement that records outcomes: every entry's row (only while its claim still
 * holds it) and, for the rows it matched, their provider attempts. The attempts hang off the
 * updated rows, so a retried write cannot record them twice.
 */
const RECORD_SQL = `WITH v AS (
    SELECT * FROM jsonb_to_recordset(?::jsonb) AS v(${ROW_COLUMNS})
  ), updated AS (
    UPDATE delivery_ledger l SET
      status = v.status,
      provider = v.provider,
      provider_message_id = v.provider_message_id,
      attempts = v.attempts,
      error = v.error,
      reason = CASE WHEN v.set_reason THEN v.reason ELSE l.reason END,
      template_version = COALESCE(v.template_version, l.template_version),
      not_before = CASE WHEN v.deferred THEN v.not_before ELSE l.not_before END,
      message = CASE WHEN v.deferred THEN v.message::jsonb ELSE l.message END,
      claim_token = NULL,
      claim_expires_at = NULL,
      updated_at = v.updated_at
    FROM v WHERE l.id = v.id AND l.claim_token = v.token AND l.status = 'sending'
    RETURNING l.id
  ), recorded AS (
    INSERT INTO delivery_attempts (ledger_id, provider, status, error, latency_ms)
    SELECT a.ledger_id, a.provider, a.status, a.error, a.latency_ms
    FROM jsonb_to_recordset(?::jsonb) AS a(ledger_id bigint, provider text, status text, error text, latency_ms int)
    JOIN updated u ON u.id = a.ledger_id
  )
  SELECT id FROM updated`;

/**
 * Writes the final record of claimed ledger rows, any number in one statement (one round
 * trip, one plan), so a wave of sends costs one write instead of one per row. A row is
 * recorded only while `claim` holds it: an entry whose claim was lost (its lease ran out and
 * another deliverer took the row) changes nothing, is logged and counted.
 */
export class LedgerOutcomes {
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    /** Counts outcomes that found their claim gone. */
    private readonly counters: { claimsLost: number },
    /** Users' data keys; without them deferred messages are stored as they are. */
    private readonly dataKeys?: DataKeyStore,
  ) {}

  /** Records every entry; returns, per entry and in order, whether its claim still held the row. */
  async recordMany(entries: readonly OutcomeEntry[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const rows = await Promise.all(entries.map((e) => this.rowValues(e)));
    const attempts = entries.flatMap(({ row, outcome, attempts: a }) => (a && a.length > 0 ? attemptRows(row.id, a, [row.recipient, ...(outcome.personal ?? [])]) : []));
    const result = await this.db.raw<{ rows: Array<{ id: string | number }> }>(RECORD_SQL, [JSON.stringify(rows), JSON.stringify(attempts)]);
    const matched = new Set(result.rows.map((r) => String(r.id)));
    return entries.map(({ row, status }) => {
      if (matched.has(String(row.id))) return true;
      this.counters.claimsLost++;
      this.logger.warn({ rowId: row.id, eventId: row.event_id, channel: row.channel, status }, 'ledger row not recorded: its claim was lost (the lease ran out and another deliverer took it)');
      return false;
    });
  }

  private async rowValues({ row, claim, status, outcome }: OutcomeEntry): Promise<Record<string, unknown>> {
    const deferred = status === 'deferred';
    const attempted = status === 'sent' || status === 'pending' || (status === 'failed' && outcome.reason !== 'template');
    return {
      id: row.id,
      token: claim.token,
      status,
      provider: outcome.provider ?? null,
      provider_message_id: outcome.providerMessageId ?? null,
      attempts: row.attempts + (attempted ? 1 : 0),
      error: outcome.error === undefined ? null : redactedErrorText(outcome.error, [row.recipient, ...(outcome.personal ?? [])]),
      // A sent row keeps why it was planned (e.g. `fallback_from_push`); others say why not sent.
      set_reason: !(status === 'sent' && outcome.reason === undefined),
      reason: outcome.reason ?? null,
      template_version: outcome.templateVersion ?? null,
      deferred,
      not_before: deferred ? (outcome.notBefore ?? null) : null,
      message: deferred && outcome.message !== undefined ? await this.storedMessage(row.user_id, outcome.message) : null,
      updated_at: new Date(),
    };
  }

  /** A deferred message as stored: its JSON sealed with the user's data key (a JSON string then), or as it is. */
  private async storedMessage(userId: string | null, message: OutboundMessage): Promise<string> {
    const sealer = await columnSealer(this.dataKeys, userId === null ? [] : [userId]);
    const json = JSON.stringify(message);
    return sealer.sealing && userId !== null ? JSON.stringify(sealer.seal(userId, json)) : json;
  }
}
