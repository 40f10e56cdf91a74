import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseOptions } from '../config/options';
import { DataKeyStore } from '../crypto/data-key-store';
import type { KeyManagementService } from '../crypto/key-management';
import type { Db, Trx } from '../db/database';
import { KeyUnavailableError } from '../errors';
import { USER_ERASED_REASON } from '../notifications/delivery/ledger-claims';
import { recordOperatorAction } from '../ops/operator-actions';
import { OUTBOX_TABLE } from '../outbox/outbox';
import { DIGEST_ENTRIES_TABLE, DIGESTS_TABLE } from '../scheduler/daily-digests';
import { REMINDERS_TABLE } from '../scheduler/renewal-reminders';

export const ERASURES_TABLE = 'erasures';

/** Who destroys a user's data keys: a DataKeyStore (`Platform.dataKeys`, or one without a KMS: destroying needs none). */
export type KeyShredder = Pick<DataKeyStore, 'destroyForUser'>;

export interface ErasureRequest {
  userId: string;
  /** Who asked: an API key (`apikey:<name>`) or the CLI's `user@host`. */
  actor: string;
  /** Why, e.g. the ticket of the data subject's request. */
  reason?: string;
}

/** What an erasure did, as recorded in `erasures` (nothing personal but the user id). */
export interface Erasure {
  id: string;
  erasedAt: Date;
  userId: string;
  actor: string;
  reason: string | null;
  /** Data keys destroyed now: every copy of a value sealed with them, anywhere, is unreadable. Empty when there were none (sealing off, or erased before). */
  destroyedKeyIds: string[];
  /** Rows per `<table>.<deleted|anonymised|cancelled>`. */
  rowCounts: Record<string, number>;
}

const requestSchema = z.object({
  // Taken as given (not trimmed): erasing another id than the one asked for would be worse than refusing.
  userId: z
    .string()
    .min(1, { error: 'is required' })
    .max(256, { error: 'must be at most 256 characters' })
    .regex(/^[^\p{Cc}]*$/u, { error: 'must not contain control characters' }),
  actor: z.string().min(1),
  reason: z.string().trim().max(1000, { error: 'must be at most 1000 characters' }).optional(),
});

/** One table's part of an erasure: what it does to the user's rows, and how many it changed. */
interface Step {
  name: string;
  run(trx: Trx, userId: string): Promise<number>;
}

const deleted = (table: string, column = 'user_id'): Step => ({
  name: `${table}.deleted`,
  run: (trx, userId) => trx(table).where(column, userId).delete(),
});

/**
 * Scheduled reminders and digests: the ones not sent yet are cancelled (one being sent at
 * this moment may still go out), and every row of the user loses its address and name. The
 * rows stay, so a replayed subscription event does not schedule the reminder again.
 */
const scheduled = (table: string): Step[] => [
  {
    name: `${table}.cancelled`,
    run: (trx, userId) => trx(table).where({ user_id: userId }).whereIn('status', ['scheduled', 'claimed']).update({ status: 'cancelled', claimed_by: null, lease_expires_at: null, updated_at: trx.fn.now() }),
  },
  {
    name: `${table}.anonymised`,
    run: (trx, userId) => trx(table).where({ user_id: userId }).update({ recipient_email: '', recipient_name: null, last_error: null }),
  },
];

/**
 * The tables holding a user's rows, in the order they are erased. Deleted: what exists only
 * for the user (in-app inbox, devices, preferences, rate-limit windows, digest entries, their
 * outbox rows, published or not: an unpublished one could only be skipped, or, written before
 * sealing, would publish their data again). Kept but anonymised: the delivery ledger (what
 * was sent when, without address, rendered message or provider error) and the scheduler's
 * jobs. The audit log and legal records are append-only and hash-chained: their personal
 * values are sealed with the user's key (unreadable once it is destroyed), never rewritten.
 */
const STEPS: Step[] = [
  deleted('in_app_notifications'),
  deleted('device_tokens'),
  deleted('notification_preferences'),
  deleted('quiet_hours'),
  deleted('rate_limit_counters'),
  {
    name: `${DIGEST_ENTRIES_TABLE}.deleted`,
    run: (trx, userId) => trx(DIGEST_ENTRIES_TABLE).whereIn('digest_id', trx(DIGESTS_TABLE).select('id').where({ user_id: userId })).delete(),
  },
  ...scheduled(DIGESTS_TABLE),
  ...scheduled(REMINDERS_TABLE),
  deleted(OUTBOX_TABLE, 'message_key'),
  {
    name: 'delivery_attempts.anonymised',
    run: (trx, userId) =>
      trx('delivery_attempts').whereIn('ledger_id', trx('delivery_ledger').select('id').where({ user_id: userId })).whereNotNull('error').update({ error: null }),
  },
  {
    // Open rows are closed (nothing is sent to an erased user). The recipient (an address
    // written before sealing, or a digest under the destroyed key) becomes `erased:<row id>`,
    // unique like what it replaces; a sealed copy beside it stays, unreadable now.
    name: 'delivery_ledger.anonymised',
    run: async (trx, userId) => {
      const result = await trx.raw(
        `UPDATE delivery_ledger SET
           recipient = CASE WHEN recipient = '' THEN recipient ELSE 'erased:' || id END,
           message = NULL,
           error = NULL,
           reason = CASE WHEN status IN ('pending', 'sending', 'deferred') THEN ? ELSE reason END,
           status = CASE WHEN status IN ('pending', 'sending', 'deferred') THEN 'suppressed' ELSE status END,
           claim_token = NULL, claimed_by = NULL, claim_expires_at = NULL,
           updated_at = now()
         WHERE user_id = ?`,
        [USER_ERASED_REASON, userId],
      );
      return (result as { rowCount: number }).rowCount;
    },
  },
];

/**
 * Erases a user (GDPR art. 17), in one transaction: destroys their data keys (crypto-shredding:
 * every copy of their sealed personal fields in every topic, retry tier, DLQ, table and backup
 * becomes unreadable), deletes or anonymises their rows, cancels what was scheduled for them,
 * and records it in `erasures` and `operator_actions`. Erasing again is harmless and recorded too.
 */
export async function eraseUser(deps: { db: Db; keys: KeyShredder }, request: ErasureRequest): Promise<Erasure> {
  const { userId, actor, reason } = parseOptions('erasure', requestSchema, request);
  return deps.db.transaction(async (trx) => {
    // Keys first: a consumer reading the user's events from now on finds them erased.
    const destroyedKeyIds = await deps.keys.destroyForUser(userId, trx);
    const rowCounts: Record<string, number> = {};
    for (const step of STEPS) rowCounts[step.name] = await step.run(trx, userId);
    const id = randomUUID();
    const [row] = (await trx(ERASURES_TABLE)
      .insert({ id, user_id: userId, actor, reason: reason ?? null, destroyed_key_ids: destroyedKeyIds, row_counts: rowCounts })
      .returning('erased_at')) as [{ erased_at: Date }];
    await recordOperatorAction(trx, { actor, action: 'gdpr.erase', target: userId, reason, details: { erasureId: id, destroyedKeys: destroyedKeyIds.length, rowCounts } });
    return { id, erasedAt: row.erased_at, userId, actor, reason: reason ?? null, destroyedKeyIds, rowCounts };
  });
}

/**
 * What destroys keys in a process: its DataKeyStore when it has a key-encryption key, else one
 * without (destroying a key is a row update; it neither wraps nor unwraps anything).
 */
export function keyShredder(db: Db, dataKeys: DataKeyStore | undefined): KeyShredder {
  return dataKeys ?? new DataKeyStore({ db, kms: WITHOUT_KMS });
}

const refuse = (): Promise<never> => Promise.reject(new KeyUnavailableError('this process has no key-encryption key: set TIDINGS_MASTER_KEY'));
const WITHOUT_KMS: KeyManagementService = { keyRef: 'none', wrap: refuse, unwrap: refuse };
